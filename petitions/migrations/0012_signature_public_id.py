"""A random public id for each signature, which the links in emails carry instead of the
sequential id. Added in three steps, as Django's documentation describes for unique fields
(https://docs.djangoproject.com/en/5.2/howto/writing-migrations/#migrations-that-add-unique-fields):
nullable, then a fresh uuid4 for each existing row, then unique and required."""

import uuid

from django.db import migrations, models

BATCH = 2000


def give_public_ids(apps, schema_editor):
    Signature = apps.get_model("petitions", "Signature")
    missing = Signature.objects.using(schema_editor.connection.alias).filter(public_id__isnull=True)
    while batch := list(missing.only("pk").order_by("pk")[:BATCH]):
        for signature in batch:
            signature.public_id = uuid.uuid4()
        Signature.objects.using(schema_editor.connection.alias).bulk_update(batch, ["public_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("petitions", "0011_no_signer_data_in_records"),
    ]

    operations = [
        migrations.AddField(
            model_name="signature",
            name="public_id",
            field=models.UUIDField(editable=False, null=True, verbose_name="public id"),
        ),
        migrations.RunPython(give_public_ids, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="signature",
            name="public_id",
            field=models.UUIDField(
                default=uuid.uuid4, editable=False, unique=True, verbose_name="public id"
            ),
        ),
    ]

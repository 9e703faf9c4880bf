"""Take signers' names and searched-for addresses out of the records written before: the admin's
log named a signature by its signer ("recent actions" showed it to all staff), and an export
recorded its search term, which may be an email address."""

from django.db import migrations
from django.db.models import F, Value
from django.db.models.functions import Concat


def scrub(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    LogEntry = apps.get_model("admin", "LogEntry")
    ExportRecord = apps.get_model("petitions", "ExportRecord")
    signature = ContentType.objects.filter(app_label="petitions", model="signature").first()
    if signature is not None:
        LogEntry.objects.filter(content_type=signature).update(
            object_repr=Concat(Value("Signature #"), F("object_id"))
        )
    for record in ExportRecord.objects.filter(filters__has_key="q"):
        term = record.filters.pop("q")
        if any(term if isinstance(term, list) else [term]):
            record.filters["search"] = "yes"
        record.save(update_fields=["filters"])


class Migration(migrations.Migration):
    dependencies = [
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("petitions", "0010_least_privilege_roles"),
    ]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop)]

"""Which email a signature's outbox holds: the signature's own (confirm, or already counted) or
a copy of the signer's data, which they ask for from any email's link. Every signature there is
starts with the signature's own.

The check constraint is added NOT VALID, then validated (on PostgreSQL; SQLite checks it as it
is added), each in its own transaction: adding it takes the table's lock for a moment only, and
validating it scans the rows while signing goes on (campaign.lib.migration_safety)."""

from django.db import migrations, models

from campaign.lib.migration_safety import (
    AddConstraintNotValidOnPostgres,
    ValidateConstraintOnPostgres,
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("petitions", "0023_receipts"),
    ]

    operations = [
        migrations.AddField(
            model_name="signature",
            name="email_kind",
            field=models.CharField(
                choices=[
                    ("signature", "confirmation or already counted"),
                    ("data_copy", "copy of the signer's data"),
                ],
                default="signature",
                editable=False,
                max_length=10,
                verbose_name="email due",
            ),
        ),
        AddConstraintNotValidOnPostgres(
            model_name="signature",
            constraint=models.CheckConstraint(
                condition=models.Q(("email_kind__in", ["signature", "data_copy"])),
                name="signature_email_kind_valid",
            ),
        ),
        ValidateConstraintOnPostgres(model_name="signature", name="signature_email_kind_valid"),
    ]

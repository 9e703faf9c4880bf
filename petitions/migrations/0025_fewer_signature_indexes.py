"""Five indexes of the signatures table that every signing wrote to and no query needs:

- petition_id's own: petition_id leads signature_counting and the unique address index;
- partner_id's own: partner_id leads signature_partner (only rows with a partner, which are
  the only ones a partner's lookups can find);
- source_story's and its pattern index: nothing looks signatures up by the story signed from;
- receipt_hash's pattern index (PostgreSQL's varchar_pattern_ops, for LIKE): receipts are
  looked up by equality, which the unique index answers.

Inserting 200,000 signatures into a copy of the table took 6.1-7.9 s without them against
7.7-11.7 s with them. The fields say db_index=False (the state below); the database drops the
indexes by name, CONCURRENTLY on PostgreSQL, so that signing goes on meanwhile (hence
atomic = False), and IF EXISTS, since SQLite never had the pattern indexes."""

import django.db.models.deletion
from django.db import migrations, models

# Name -> (column, operator class), to build each again when the migration is reversed.
UNUSED = {
    "petitions_signature_petition_id_5a17fa21": ("petition_id", ""),
    "petitions_signature_partner_id_db0a5419": ("partner_id", ""),
    "petitions_signature_source_story_c4f7a3fd": ("source_story", ""),
    "petitions_signature_source_story_c4f7a3fd_like": ("source_story", "varchar_pattern_ops"),
    "petitions_signature_receipt_hash_13b3dbe8_like": ("receipt_hash", "varchar_pattern_ops"),
}


def _concurrently(schema_editor) -> str:
    return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


def drop(apps, schema_editor):
    for name in UNUSED:
        schema_editor.execute(
            f"DROP INDEX {_concurrently(schema_editor)}IF EXISTS {schema_editor.quote_name(name)}"
        )


def build_again(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    table = schema_editor.quote_name(apps.get_model("petitions", "Signature")._meta.db_table)
    for name, (column, opclass) in UNUSED.items():
        if opclass and not postgres:
            continue
        schema_editor.execute(
            f"CREATE INDEX {_concurrently(schema_editor)}IF NOT EXISTS "
            f"{schema_editor.quote_name(name)} ON {table} "
            f"({schema_editor.quote_name(column)} {opclass})"
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("partners", "0003_partnerstaff"),
        ("petitions", "0024_signature_email_kind"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="signature",
                    name="partner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="signatures",
                        to="partners.partner",
                        verbose_name="partner organisation",
                    ),
                ),
                migrations.AlterField(
                    model_name="signature",
                    name="petition",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="signatures",
                        to="petitions.petition",
                        verbose_name="petition",
                    ),
                ),
                migrations.AlterField(
                    model_name="signature",
                    name="source_story",
                    field=models.SlugField(
                        blank=True,
                        db_index=False,
                        max_length=80,
                        verbose_name="story signed from",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, build_again)],
        ),
    ]

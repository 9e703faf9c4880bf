"""Receipts: every signature gets a random receipt code (sealed) and its SHA-256; the hand-in
keeps the receipts it handed in (HandedInReceipt) and its public manifest on the petition.

Signatures already there get a receipt too, in batches, so that every counted signature has
one in the next hand-in: its code sealed where the signature still has its signer's data (the
"already counted" email of a repeat signing carries it), its hash only where the data was erased.
The code is drawn here as petitions.tokens draws it (copied, so that this migration stays as it
is whatever becomes of that module). Going back drops the receipts.
"""

import hashlib
import secrets

from django.db import migrations, models

import campaign.lib.sealed
import petitions.models
import petitions.tokens

BATCH = 1000
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def _code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(16))


def give_receipts(apps, schema_editor):
    seal = campaign.lib.sealed.seal
    Signature = apps.get_model("petitions", "Signature")
    signatures = Signature.objects.using(schema_editor.connection.alias)
    context = campaign.lib.sealed.sealed_context(Signature, "receipt")
    rows = signatures.filter(receipt_hash__isnull=True).only("pk", "erased_at").order_by("pk")
    after = 0
    while batch := list(rows.filter(pk__gt=after)[:BATCH]):
        for signature in batch:
            code = _code()
            signature.receipt_hash = hashlib.sha256(code.encode("utf-8")).hexdigest()
            # The column is plain text in this state: store the sealed token.
            signature.receipt = "" if signature.erased_at else seal(code, context)
        signatures.bulk_update(batch, ["receipt", "receipt_hash"])
        after = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("petitions", "0022_sealed_signer_data"),
    ]

    operations = [
        # As plain columns first, filled, then as the model has them.
        migrations.AddField(
            model_name="signature",
            name="receipt",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddField(
            model_name="signature",
            name="receipt_hash",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(give_receipts, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="signature",
            name="receipt",
            field=campaign.lib.sealed.SealedTextField(
                blank=True,
                default=petitions.tokens.new_receipt,
                editable=False,
                verbose_name="receipt",
            ),
        ),
        migrations.AlterField(
            model_name="signature",
            name="receipt_hash",
            field=petitions.models.ReceiptHashField(
                editable=False, max_length=64, unique=True, verbose_name="receipt's SHA-256"
            ),
        ),
        migrations.AddConstraint(
            model_name="signature",
            constraint=models.CheckConstraint(
                condition=models.Q(("receipt_hash__regex", "^[0-9a-f]{64}\\Z")),
                name="signature_receipt_hash_hex",
            ),
        ),
        migrations.AddField(
            model_name="petition",
            name="handed_in_manifest",
            field=models.TextField(blank=True, editable=False, verbose_name="hand-in manifest"),
        ),
        migrations.AddField(
            model_name="petition",
            name="handed_in_manifest_sha256",
            field=models.CharField(
                blank=True, editable=False, max_length=64, verbose_name="hand-in manifest SHA-256"
            ),
        ),
        migrations.AddField(
            model_name="petition",
            name="handed_in_countries",
            field=models.JSONField(
                blank=True,
                default=list,
                editable=False,
                verbose_name="counts handed in, as published",
            ),
        ),
        migrations.CreateModel(
            name="HandedInReceipt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "receipt_hash",
                    models.CharField(max_length=64, verbose_name="receipt's SHA-256"),
                ),
                (
                    "petition",
                    models.ForeignKey(
                        on_delete=models.deletion.CASCADE,
                        related_name="+",
                        to="petitions.petition",
                        verbose_name="petition",
                    ),
                ),
            ],
            options={
                "verbose_name": "receipt handed in",
                "verbose_name_plural": "receipts handed in",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("petition", "receipt_hash"), name="handed_in_receipt_unique"
                    )
                ],
            },
        ),
    ]

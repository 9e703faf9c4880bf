"""Signers' names and addresses sealed in the database, and found by a keyed hash.

In order: the constraints that read the address in clear go; `email_hash` is added; the three
columns are widened to text (a token is longer than the name it seals); every row's names and
address are sealed with SIGNER_DATA_KEY and its address's hash computed with SIGNER_LOOKUP_KEY,
in batches; the columns become sealed fields (no change in the database: they stay text); and
the constraints come back on the hash.

Confirm and forget applies to the signatures already there as to new ones: a confirmed
signature whose signer asked for no updates keeps only its address's hash, unless an email to
it is still waiting in the outbox (the worker forgets it after sending).

Going back puts the names and addresses back in clear, with the keys, unless some addresses
have been forgotten since: those cannot be put back, and going back stops with an
IrreversibleError that says so.
"""

from django.db import migrations, models
from django.db.migrations.exceptions import IrreversibleError

import campaign.lib.sealed
import petitions.models

BATCH = 1000
SEALED = ["first_name", "last_name", "email"]


def _in_batches(queryset):
    after = 0
    while batch := list(queryset.filter(pk__gt=after).order_by("pk")[:BATCH]):
        yield batch
        after = batch[-1].pk


def seal_signer_data(apps, schema_editor):
    seal, lookup_hash = campaign.lib.sealed.seal, campaign.lib.sealed.lookup_hash
    Signature = apps.get_model("petitions", "Signature")
    # Each value bound to its column, as the sealed field binds it.
    first, last, email = (campaign.lib.sealed.sealed_context(Signature, name) for name in SEALED)
    rows = Signature.objects.using(schema_editor.connection.alias).only(
        "pk", *SEALED, "status", "wants_updates", "partner_updates", "email_due"
    )
    for batch in _in_batches(rows):
        for signature in batch:
            # The columns are plain text in this state: these are the values in clear.
            signature.first_name = seal(signature.first_name, first) if signature.first_name else ""
            signature.last_name = seal(signature.last_name, last) if signature.last_name else ""
            if signature.email:
                # As petitions.models.address_hash computes it.
                signature.email_hash = lookup_hash(signature.email.strip().lower())
                forget = (
                    signature.status == "confirmed"
                    and not (signature.wants_updates or signature.partner_updates)
                    and not signature.email_due
                )
                signature.email = None if forget else seal(signature.email, email)
        Signature.objects.using(schema_editor.connection.alias).bulk_update(
            batch, [*SEALED, "email_hash"]
        )


def unseal_signer_data(apps, schema_editor):
    unseal = campaign.lib.sealed.unseal
    Signature = apps.get_model("petitions", "Signature")
    signatures = Signature.objects.using(schema_editor.connection.alias)
    forgotten = signatures.filter(email__isnull=True, erased_at__isnull=True).count()
    if forgotten:
        raise IrreversibleError(
            f"{forgotten} confirmed signatures keep only their address's keyed hash (confirm and "
            "forget), so their addresses cannot be put back in clear; restore a backup taken "
            "before this migration instead."
        )
    for batch in _in_batches(signatures.only("pk", *SEALED)):
        for signature in batch:
            for name in SEALED:
                token = getattr(signature, name)
                context = campaign.lib.sealed.sealed_context(Signature, name)
                setattr(signature, name, unseal(token, context) if token else token)
        signatures.bulk_update(batch, SEALED)


class Migration(migrations.Migration):
    dependencies = [
        ("petitions", "0021_highriskcountry"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="signature",
            name="signature_unique_email_per_petition",
        ),
        migrations.RemoveConstraint(
            model_name="signature",
            name="signature_email_lower_case",
        ),
        migrations.RemoveConstraint(
            model_name="signature",
            name="signature_email_unless_erased",
        ),
        migrations.AddField(
            model_name="signature",
            name="email_hash",
            field=petitions.models.AddressHashField(
                editable=False, max_length=64, null=True, verbose_name="email address's keyed hash"
            ),
        ),
        # Wide enough for the tokens, still in clear.
        migrations.AlterField(
            model_name="signature",
            name="email",
            field=models.TextField(blank=True, null=True, verbose_name="email"),
        ),
        migrations.AlterField(
            model_name="signature",
            name="first_name",
            field=models.TextField(blank=True, verbose_name="first name"),
        ),
        migrations.AlterField(
            model_name="signature",
            name="last_name",
            field=models.TextField(blank=True, verbose_name="last name"),
        ),
        migrations.RunPython(seal_signer_data, unseal_signer_data),
        # The same text columns, read and written through the seal from here on.
        migrations.AlterField(
            model_name="signature",
            name="email",
            field=campaign.lib.sealed.SealedTextField(
                blank=True, max_length=254, null=True, verbose_name="email"
            ),
        ),
        migrations.AlterField(
            model_name="signature",
            name="first_name",
            field=campaign.lib.sealed.SealedTextField(
                blank=True, max_length=100, verbose_name="first name"
            ),
        ),
        migrations.AlterField(
            model_name="signature",
            name="last_name",
            field=campaign.lib.sealed.SealedTextField(
                blank=True, max_length=100, verbose_name="last name"
            ),
        ),
        migrations.AddConstraint(
            model_name="signature",
            constraint=models.UniqueConstraint(
                fields=("petition", "email_hash"), name="signature_unique_address_per_petition"
            ),
        ),
        migrations.AddConstraint(
            model_name="signature",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("email_hash__isnull", True),
                    ("email_hash__regex", "^[0-9a-f]{64}\\Z"),
                    _connector="OR",
                ),
                name="signature_email_hash_hex",
            ),
        ),
        migrations.AddConstraint(
            model_name="signature",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("email__isnull", True), ("email_hash__isnull", False), _connector="OR"
                ),
                name="signature_address_has_hash",
            ),
        ),
        migrations.AddConstraint(
            model_name="signature",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("erased_at__isnull", False), ("email_hash__isnull", False), _connector="OR"
                ),
                name="signature_email_hash_unless_erased",
            ),
        ),
    ]

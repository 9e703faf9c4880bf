"""Before the tally's counts may not be negative: make them so, keeping every sum.

Until now a withdrawal took one from a random shard, which could leave that shard at -1 while
another held the signature, so a live database may well have negative shards. For each petition
and country with one, the whole count moves to its lowest shard and the others are emptied (a
negative sum, a wrong count that the public figures already leave out, becomes 0). The
constraint itself is added by the next migration, in a transaction of its own.
"""

from django.db import migrations
from django.db.models import Min, Sum


def fold_negative_shards(apps, schema_editor):
    SignatureTally = apps.get_model("petitions", "SignatureTally")
    groups = (
        SignatureTally.objects.filter(count__lt=0)
        .values_list("petition_id", "country")
        .distinct()
        .order_by()
    )
    for petition_id, country in list(groups):
        rows = SignatureTally.objects.filter(petition_id=petition_id, country=country)
        # Locked, so that a confirmation arriving meanwhile waits and is not lost.
        list(rows.select_for_update().values_list("pk", flat=True))
        totals = rows.aggregate(total=Sum("count"), first=Min("shard"))
        rows.update(count=0)
        rows.filter(shard=totals["first"]).update(count=max(totals["total"], 0))


class Migration(migrations.Migration):
    dependencies = [
        ("petitions", "0004_email_outbox"),
    ]

    operations = [
        migrations.RunPython(fold_negative_shards, migrations.RunPython.noop),
    ]

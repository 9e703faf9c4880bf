from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_it_has_a_migration_for_every_model_change():
    output = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=output, stderr=output)
    except SystemExit as exit:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(f"Missing migrations (exit {exit.code}):\n{output.getvalue()}")


@pytest.mark.django_db(transaction=True)
def test_it_makes_negative_tally_shards_whole_before_forbidding_them(migrator):
    """A live database may hold shards at -1 from before the constraint; migrating keeps each
    country's sum and leaves no shard below zero."""
    apps = migrator.migrate([("petitions", "0004_email_outbox")])
    petition = migrator.petition(apps)
    Tally = apps.get_model("petitions", "SignatureTally")
    layout = {("NL", 0): 3, ("NL", 4): -1, ("NL", 6): 1, ("BE", 1): -1, ("DE", 2): 2}
    for (country, shard), count in layout.items():
        Tally.objects.create(petition=petition, country=country, shard=shard, count=count)
    migrator.migrate([("petitions", "0006_constraints")])
    rows = Tally.objects.values_list("country", "shard", "count")
    assert {(country, shard): count for country, shard, count in rows} == {
        ("NL", 0): 3,
        ("NL", 4): 0,
        ("NL", 6): 0,
        ("BE", 1): 0,
        ("DE", 2): 2,
    }

"""Every migration can run while the previous release serves (README, "Releasing"): none locks
the signatures or their counts for a scan or a rewrite, none removes what the old code reads.
campaign/lib/migration_safety.py decides what is safe; its own tests show it catching each
kind of operation."""

import importlib

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from campaign.lib.migration_safety import hazards
from petitions.models import Signature

UNUSED = importlib.import_module("petitions.migrations.0025_fewer_signature_indexes").UNUSED

# The tables a campaign day makes big (a row per signature, or per signature and hour) or hot
# (every confirmation updates the tally and the rollups).
BIG_TABLES = {
    "petitions.signature",
    "petitions.signaturetally",
    "petitions.signaturerollup",
    "petitions.signaturetimeline",
    "petitions.signaturetotals",
}
PROJECT_APPS = {"campaign", "partners", "petitions", "stories"}

# Migrations written before the rule, each reviewed: what it does to the big tables and why it
# stays. A new migration is not added here to make the test pass: it is written the safe way
# (AddIndexConcurrently, AddConstraintNotValid, add-then-remove across two releases), or run
# in a maintenance window and listed here with the reason.
REVIEWED = {
    # Data migrations of staff groups and permissions: they touch no signature.
    ("petitions", "0003_staff_roles"): "groups and permissions only",
    ("petitions", "0010_least_privilege_roles"): "groups and permissions only",
    ("petitions", "0013_petition_translations"): "copies petition texts, a few rows",
    ("petitions", "0014_editors_edit_pages"): "groups and permissions only",
    ("petitions", "0015_editors_edit_partners"): "groups and permissions only",
    ("petitions", "0021_highriskcountry"): "permissions of the new table only",
    # The outbox's partial index, built before the first campaign, when the table was small.
    ("petitions", "0004_email_outbox"): "index built on a small table, before launch",
    # Evens out tally shards (a few dozen rows) before the check that forbids negative ones.
    ("petitions", "0005_tally_shards_not_negative"): "tally rows only; checks on small tables",
    ("petitions", "0006_constraints"): "check constraints added before launch",
    ("petitions", "0011_no_signer_data_in_records"): "export records, not signatures",
    # Fills a new unique column row by row, then makes it unique: before launch.
    ("petitions", "0012_signature_public_id"): "run before launch; a full update of the table",
    ("petitions", "0016_signature_partner"): "nullable foreign key and index, before launch",
    ("petitions", "0017_consents"): "nullable foreign keys, before launch",
    ("petitions", "0018_signaturerollup"): "fills the new rollup from the signatures",
    ("petitions", "0020_signature_source_widget"): "replaces a check constraint, before launch",
    # Sealing every name and address rewrote the table: a release of its own, in a window.
    ("petitions", "0022_sealed_signer_data"): "rewrites every signature: a maintenance window",
    ("petitions", "0023_receipts"): "draws a receipt for every signature: a maintenance window",
    # Its RunPython drops indexes, CONCURRENTLY on PostgreSQL: writes go on meanwhile.
    ("petitions", "0025_fewer_signature_indexes"): "drops unused indexes concurrently",
}


def migration_hazards() -> dict[tuple[str, str], list[str]]:
    """Each project migration's hazards, walking the migrations in order from an empty state."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    plan: list[tuple[str, str]] = []
    for leaf in sorted(loader.graph.leaf_nodes()):
        plan += [node for node in loader.graph.forwards_plan(leaf) if node not in plan]
    state = ProjectState(real_apps=loader.unmigrated_apps)
    found = {}
    for node in plan:
        migration = loader.graph.nodes[node]
        if node[0] in PROJECT_APPS:
            found[node] = hazards(migration, state, BIG_TABLES)
        state = migration.mutate_state(state, preserve=False)
    return found


def test_it_finds_no_unreviewed_migration_that_locks_a_big_table():
    unreviewed = [
        hazard
        for node, found in migration_hazards().items()
        if node not in REVIEWED
        for hazard in found
    ]
    assert unreviewed == [], "\n".join(unreviewed)


def test_it_lists_only_migrations_that_need_it():
    found = migration_hazards()
    assert [node for node in REVIEWED if not found.get(node)] == []


def signature_constraints() -> dict:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, Signature._meta.db_table)


@pytest.mark.django_db
def test_signing_writes_no_index_that_another_covers_or_nothing_reads():
    """Every index is written on every signing: the table keeps those its queries and its
    constraints need, no more (migration 0025)."""
    found = signature_constraints()
    indexes = {name: spec["columns"] for name, spec in found.items() if spec["index"]}
    assert not set(indexes) & set(UNUSED)
    single = [columns for columns in indexes.values() if len(columns) == 1]
    for column in ("petition_id", "partner_id", "source_story"):
        assert [column] not in single
    # What replaces them: composite indexes led by the same columns, and receipt's unique one.
    assert indexes["signature_counting"][0] == "petition_id"
    assert indexes["signature_partner"][0] == "partner_id"
    assert any(spec["unique"] and spec["columns"] == ["receipt_hash"] for spec in found.values())


@pytest.mark.django_db(transaction=True)
def test_the_indexes_come_back_when_migration_0025_is_reversed():
    """A release rolled back gets the indexes its code was written for (the pattern indexes
    on PostgreSQL only, as Django builds them), and migrating forward drops them again."""
    expected = {
        name for name, (_column, opclass) in UNUSED.items()
        if not opclass or connection.vendor == "postgresql"
    }  # fmt: skip
    try:
        call_command("migrate", "petitions", "0024", verbosity=0)
        assert expected <= set(signature_constraints())
    finally:
        call_command("migrate", "petitions", verbosity=0)
    assert not set(signature_constraints()) & set(UNUSED)

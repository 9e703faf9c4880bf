import pytest
from django.contrib.postgres.operations import AddConstraintNotValid, AddIndexConcurrently
from django.db import migrations, models
from django.db.migrations.state import ModelState, ProjectState

from campaign.lib.migration_safety import hazards

BIG = {"shop.order"}


def state() -> ProjectState:
    """An app "shop" whose Order table is big, as a migration finds it."""
    project = ProjectState()
    project.add_model(
        ModelState(
            "shop",
            "Order",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("code", models.CharField(max_length=20)),
                ("note", models.CharField(max_length=20, null=True)),
                ("amount", models.IntegerField(default=0)),
            ],
        )
    )
    return project


def found(*operations) -> list[str]:
    migration = migrations.Migration("0002_change", "shop")
    migration.operations = list(operations)
    return hazards(migration, state(), BIG)


@pytest.mark.parametrize(
    "operation",
    [
        migrations.AlterField("order", "amount", models.BigIntegerField(default=0)),
        migrations.AlterField("order", "code", models.CharField(max_length=10)),
        migrations.AlterField("order", "note", models.CharField(max_length=20)),
        migrations.AlterField("order", "code", models.CharField(max_length=20, unique=True)),
        migrations.AddIndex("order", models.Index(fields=["code"], name="order_code")),
        migrations.AddConstraint(
            "order", models.CheckConstraint(condition=models.Q(amount__gte=0), name="positive")
        ),
        migrations.AddConstraint("order", models.UniqueConstraint(fields=["code"], name="u")),
        migrations.AddField("order", "ref", models.CharField(max_length=9, db_index=True)),
        migrations.AddField("order", "ref", models.UUIDField(db_default=models.Func())),
        migrations.RemoveField("order", "note"),
        migrations.RenameField("order", "note", "remark"),
        migrations.RunSQL("UPDATE shop_order SET amount = 0"),
        migrations.RunPython(migrations.RunPython.noop),
    ],
    ids=lambda operation: operation.describe(),
)
def test_it_names_an_operation_that_locks_or_breaks_a_big_table(operation):
    lines = found(operation)
    assert len(lines) == 1
    assert lines[0].startswith("shop.0002_change: ")


@pytest.mark.parametrize(
    "operation",
    [
        migrations.AddField("order", "ref", models.CharField(max_length=9, null=True)),
        migrations.AddField("order", "flag", models.BooleanField(default=False)),
        migrations.AddField("order", "seen", models.IntegerField(db_default=models.Value(0))),
        migrations.AlterField("order", "code", models.CharField(max_length=40)),
        migrations.AlterField("order", "code", models.CharField(max_length=20, null=True)),
        migrations.AlterField(
            "order", "amount", models.IntegerField(default=5, verbose_name="amount", blank=True)
        ),
        AddIndexConcurrently("order", models.Index(fields=["code"], name="order_code")),
        AddConstraintNotValid(
            "order", models.CheckConstraint(condition=models.Q(amount__gte=0), name="positive")
        ),
        migrations.RemoveIndex("order", "order_code"),
    ],
    ids=lambda operation: operation.describe(),
)
def test_it_lets_a_safe_operation_pass(operation):
    assert found(operation) == []


def test_it_lets_anything_pass_on_a_table_created_in_the_same_migration():
    migration = migrations.Migration("0001_initial", "shop")
    migration.operations = [
        migrations.CreateModel("Order", [("id", models.BigAutoField(primary_key=True))]),
        migrations.AddIndex("order", models.Index(fields=["id"], name="order_id")),
    ]
    assert hazards(migration, ProjectState(), BIG) == []


def test_it_leaves_small_tables_alone():
    migration = migrations.Migration("0002_change", "shop")
    migration.operations = [migrations.AddIndex("order", models.Index(fields=["code"], name="i"))]
    assert hazards(migration, state(), {"shop.customer"}) == []


def test_it_reads_the_database_side_of_separate_database_and_state():
    lines = found(
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AddIndex("order", models.Index(fields=["code"], name="order_code"))
            ]
        )
    )
    assert len(lines) == 1 and "builds an index" in lines[0]


def test_it_judges_an_alteration_against_the_field_as_earlier_operations_left_it():
    lines = found(
        migrations.AlterField("order", "code", models.CharField(max_length=40)),
        migrations.AlterField("order", "code", models.CharField(max_length=30)),
    )
    assert len(lines) == 1 and "max_length" in lines[0]


@pytest.mark.django_db(transaction=True)
def test_its_postgres_operations_run_on_the_test_database_whatever_it_is():
    """CONCURRENTLY and NOT VALID on PostgreSQL, the plain operation on SQLite: both leave the
    index and a working constraint."""
    from django.db import IntegrityError, connection, transaction

    from campaign.lib.migration_safety import (
        AddConstraintNotValidOnPostgres,
        AddIndexConcurrentlyOnPostgres,
        ValidateConstraintOnPostgres,
    )

    before = ProjectState()
    before.add_model(
        ModelState(
            "campaign",
            "ScratchThing",
            [("id", models.BigAutoField(primary_key=True)), ("amount", models.IntegerField())],
        )
    )
    steps = [
        AddIndexConcurrentlyOnPostgres(
            "scratchthing", models.Index(fields=["amount"], name="scratch_amount")
        ),
        AddConstraintNotValidOnPostgres(
            "scratchthing",
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="scratch_positive"),
        ),
        ValidateConstraintOnPostgres("scratchthing", "scratch_positive"),
    ]
    model = before.apps.get_model("campaign", "ScratchThing")
    with connection.schema_editor(atomic=False) as editor:
        editor.create_model(model)
    try:
        state = before
        for step in steps:
            after = state.clone()
            step.state_forwards("campaign", after)
            with connection.schema_editor(atomic=False) as editor:
                step.database_forwards("campaign", editor, state, after)
            state = after
        table = model._meta.db_table
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, table)
        assert "scratch_amount" in constraints
        model.objects.create(amount=1)
        with pytest.raises(IntegrityError), transaction.atomic():
            model.objects.create(amount=-1)
    finally:
        with connection.schema_editor(atomic=False) as editor:
            editor.delete_model(model)

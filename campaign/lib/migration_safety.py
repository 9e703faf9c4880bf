"""Which migration operations a rolling release cannot run while the site serves.

A release migrates while the previous code still serves (README, "Releasing"), so a
migration must neither hold a big table's lock for as long as a scan or a rewrite of it takes
(on PostgreSQL every signing would wait behind it, for minutes on a million rows), nor take
away what the code still serving reads. `hazards()` names each operation of a migration that
would, for the tables given; a test runs it over every migration (petitions/tests/
test_migrations_safe.py), with a reviewed list of the ones already applied.

What passes: adding a nullable column, or one with a constant default (PostgreSQL 11 and later
store the default without rewriting the table); CreateModel, and anything on a model created
in the same migration (an empty table); building an index CONCURRENTLY; adding a check
constraint NOT VALID, then validating it in a later migration (validating lets writes go on),
with the operations below, which also run on SQLite; RemoveIndex and RemoveConstraint (a
moment's lock); AlterField changes that stay in Python (verbose name, help text, choices,
default, blank, validators), a longer varchar, or dropping NOT NULL.
"""

from django.contrib.postgres import operations as postgres
from django.contrib.postgres.operations import (
    AddConstraintNotValid,
    AddIndexConcurrently,
    RemoveIndexConcurrently,
    ValidateConstraint,
)
from django.db import migrations, models
from django.db.migrations.migration import Migration
from django.db.migrations.state import ProjectState


# PostgreSQL's ways of changing a busy table, for migrations that must also run on the SQLite
# of development and tests, where they do what the plain operation does (a table there is a
# developer's, and SQLite has neither CONCURRENTLY nor NOT VALID). A migration that uses
# AddIndexConcurrently sets `atomic = False`.
class _PlainElsewhere:
    plain: type[migrations.operations.base.Operation]

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        operation = super() if schema_editor.connection.vendor == "postgresql" else self.plain
        return operation.database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        operation = super() if schema_editor.connection.vendor == "postgresql" else self.plain
        return operation.database_backwards(app_label, schema_editor, from_state, to_state)


class AddIndexConcurrentlyOnPostgres(_PlainElsewhere, postgres.AddIndexConcurrently):
    @property
    def plain(self):
        return migrations.AddIndex(self.model_name, self.index)


class AddConstraintNotValidOnPostgres(_PlainElsewhere, postgres.AddConstraintNotValid):
    @property
    def plain(self):
        return migrations.AddConstraint(self.model_name, self.constraint)


class ValidateConstraintOnPostgres(postgres.ValidateConstraint):
    """On other databases the constraint was checked when it was added."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)


# Field options that never reach the database's column definition.
PYTHON_ONLY = frozenset(
    ("verbose_name", "help_text", "choices", "default", "blank", "validators", "editable",
     "error_messages", "db_comment")
)  # fmt: skip
SAFE = (AddIndexConcurrently, RemoveIndexConcurrently, AddConstraintNotValid, ValidateConstraint)
SAFE += (migrations.RemoveIndex, migrations.RemoveConstraint, migrations.AlterModelOptions)
SAFE += (migrations.AlterModelManagers,)

BUILDS_INDEX = "builds an index while every write to the table waits"
REMOVES = "the release still serving reads it: remove it a release after the code stops using it"


def _field_hazard(field: models.Field) -> str:
    """Why adding this column would lock or rewrite the table, or ""."""
    if field.unique or field.db_index or (field.is_relation and field.remote_field.db_constraint):
        return f"{BUILDS_INDEX} (or checks every row against a foreign key)"
    db_default = getattr(field, "db_default", models.NOT_PROVIDED)
    if db_default is not models.NOT_PROVIDED and not isinstance(db_default, models.Value):
        return "a database default computed by an expression may rewrite every row"
    return ""


def _alter_hazard(old: models.Field | None, new: models.Field) -> str:
    """Why changing old into new would rewrite the table or scan it under its lock, or ""."""
    if old is None:
        return "alters a field the migrations never added"
    _n, old_path, old_args, old_kwargs = old.deconstruct()
    _n, new_path, new_args, new_kwargs = new.deconstruct()
    changed = {
        key
        for key in set(old_kwargs) | set(new_kwargs)
        if key not in PYTHON_ONLY and old_kwargs.get(key) != new_kwargs.get(key)
    }
    if old_path != new_path or old_args != new_args:
        return "changes the column's type: PostgreSQL rewrites the table under an exclusive lock"
    if "max_length" in changed and (new_kwargs.get("max_length") or 0) >= (
        old_kwargs.get("max_length") or 0
    ):
        changed.discard("max_length")  # a longer varchar is a change of the catalogue only
    if "null" in changed and new_kwargs.get("null"):
        changed.discard("null")  # dropping NOT NULL is a change of the catalogue only
    if not changed:
        return ""
    if changed & {"unique", "db_index", "db_constraint"}:
        return BUILDS_INDEX
    if "null" in changed:
        return "setting NOT NULL scans every row under an exclusive lock"
    return f"changes the column ({', '.join(sorted(changed))}): a rewrite or a scan under lock"


def _model_name(operation) -> str:
    for attribute in ("model_name", "name"):
        value = getattr(operation, attribute, None)
        if isinstance(value, str):
            return value.lower()
    return ""


def _operation_hazard(operation, app_label: str, state: ProjectState) -> str:
    if isinstance(operation, SAFE):
        return ""
    if isinstance(operation, migrations.AddField):
        return _field_hazard(operation.field)
    if isinstance(operation, migrations.AlterField):
        model = state.models.get((app_label, operation.model_name_lower))
        old = model.fields.get(operation.name) if model else None
        return _alter_hazard(old, operation.field)
    if isinstance(operation, migrations.AddIndex):
        return (
            f"{BUILDS_INDEX}: use AddIndexConcurrentlyOnPostgres (campaign.lib.migration_safety) "
            "in a migration with atomic = False"
        )
    if isinstance(operation, migrations.AddConstraint):
        if isinstance(operation.constraint, models.CheckConstraint):
            return (
                "checks every row under an exclusive lock: use AddConstraintNotValidOnPostgres, "
                "then ValidateConstraintOnPostgres in the next migration "
                "(campaign.lib.migration_safety)"
            )
        return BUILDS_INDEX
    if isinstance(operation, migrations.AlterUniqueTogether | migrations.AlterIndexTogether):
        return BUILDS_INDEX
    if isinstance(operation, migrations.RemoveField | migrations.DeleteModel):
        return REMOVES
    if isinstance(
        operation, migrations.RenameField | migrations.RenameModel | migrations.AlterModelTable
    ):
        return "the release still serving uses the old name: add the new one, copy, then remove"
    return "not one this check knows to be safe: review it and list it"


def hazards(migration: Migration, state: ProjectState, big_tables: set[str]) -> list[str]:
    """What in `migration` would lock one of `big_tables` ("app_label.model", lower case) for
    long or break the release still serving, given the project state before it: one line per
    operation. RunSQL and RunPython in the apps of those tables count as touching them: what
    they do can only be read by a person."""
    state = state.clone()
    found = []
    created: set[str] = set()
    for top in migration.operations:
        inner = (
            top.database_operations
            if isinstance(top, migrations.SeparateDatabaseAndState)
            else [top]
        )
        for operation in inner:
            reason = ""
            table = f"{migration.app_label}.{_model_name(operation)}"
            if isinstance(operation, migrations.CreateModel):
                created.add(table)
            elif isinstance(operation, migrations.RunSQL | migrations.RunPython):
                if migration.app_label in {table.split(".")[0] for table in big_tables}:
                    reason = "may lock or update every row; review it and list it"
            elif table in big_tables and table not in created:
                reason = _operation_hazard(operation, migration.app_label, state)
            if reason:
                name = f"{migration.app_label}.{migration.name}"
                found.append(f"{name}: {operation.describe()}: {reason}")
        top.state_forwards(migration.app_label, state)
    return found

"""Statements the ORM compiles once per process, then run many times with new values.

Building a queryset and compiling it to SQL takes Django about 0.8 ms for a query with a few
conditions and a subquery: more than PostgreSQL takes to answer it by its primary key. On a
path every signer takes (a confirmation link: a read when it is opened, an UPDATE when its
button is pressed) that is a third of the request. A Compiled statement is built by the ORM,
as any other, the first time a database runs it, with a sample value in each slot (the values
that change from run to run: an id, the time); every run after that puts its own values in
the slots' places among the parameters. The SQL stays the ORM's own, so the rules it encodes
(a queryset method, a Q) stay written in one place.

Slots suit values compared or assigned as themselves (=, <, >, SET column = value): a value the
ORM turns into different SQL (None into IS NULL, a list into IN (...)) needs a statement of its
own. A sample must be a value no constant of the statement can equal (tests/test_compiled.py).
An integer no column of the slot's field can hold raises EmptyResultSet, as the ORM's lookups
do: no row can match it, and the database would refuse it or compare it slowly as a numeric.
"""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Field, IntegerField, QuerySet
from django.db.models.sql import Query


@dataclass(frozen=True)
class Slot:
    """A value that changes from run to run: the model field it is compared with or assigned
    to (which prepares it for the database, as the ORM would) and a sample to compile with."""

    field: Field
    sample: Any


def sql_of(query: QuerySet | Query, using: str) -> tuple[str, Sequence]:
    """A queryset's or a query's SQL and parameters for this database."""
    if isinstance(query, QuerySet):
        query = query.query
    return query.get_compiler(using=using).as_sql()


class Compiled:
    """One statement: compile(using, **samples) gives its SQL and parameters, as sql_of does,
    for the slots' samples; sql(using, **values) gives them for these values, compiling once
    (EmptyResultSet for an integer out of its field's range)."""

    def __init__(self, compile: Callable[..., tuple[str, Sequence]], **slots: Slot) -> None:
        self._compile = compile
        self._slots = slots
        # Per database: the SQL and, for each parameter, its constant or the name of its slot.
        self._compiled: dict[str, tuple[str, list[tuple[bool, Any]]]] = {}
        self._lock = threading.Lock()

    def sql(self, using: str, **values: Any) -> tuple[str, list]:
        compiled = self._compiled.get(using)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(using) or self._compile_for(using)
                self._compiled[using] = compiled
        sql, parameters = compiled
        connection = connections[using]
        prepared = {}
        for name, slot in self._slots.items():
            value = values[name]
            if isinstance(value, int):
                _check_range(slot.field, value, connection)
            prepared[name] = slot.field.get_db_prep_value(value, connection)
        return sql, [prepared[value] if is_slot else value for is_slot, value in parameters]

    def _compile_for(self, using: str) -> tuple[str, list[tuple[bool, Any]]]:
        connection = connections[using]
        sql, params = self._compile(using, **{name: s.sample for name, s in self._slots.items()})
        samples = {
            name: slot.field.get_db_prep_value(slot.sample, connection)
            for name, slot in self._slots.items()
        }
        parameters = []
        for param in params:
            names = [name for name, sample in samples.items() if _same(param, sample)]
            if len(names) > 1:
                raise ValueError(f"the samples of {' and '.join(names)} are the same value")
            parameters.append((True, names[0]) if names else (False, param))
        missing = set(samples) - {value for is_slot, value in parameters if is_slot}
        if missing:
            raise ValueError(f"no parameter of the statement is the sample of {sorted(missing)}")
        return sql, parameters


def _check_range(field: Field, value: int, connection) -> None:
    """Raise EmptyResultSet for an integer the field's column cannot hold."""
    target = field.target_field if field.is_relation else field
    if not isinstance(target, IntegerField):
        return
    low, high = connection.ops.integer_field_range(target.get_internal_type())
    if (low is not None and value < low) or (high is not None and value > high):
        raise EmptyResultSet


def _same(param: Any, sample: Any) -> bool:
    """Whether a parameter is a slot's sample: equal, and of the same type (True == 1)."""
    return type(param) is type(sample) and param == sample

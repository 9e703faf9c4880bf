"""Statements the ORM compiles once, then run with new values in their slots."""

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Value
from django.db.models.sql import UpdateQuery
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign.lib.compiled import Compiled, Slot, sql_of

pytestmark = pytest.mark.django_db

SAMPLE_NAME = "sample-name-that-no-user-has"
SAMPLE_TIME = dt.datetime(2001, 2, 3, 4, 5, 6, 789_012, tzinfo=dt.UTC)
JOINED = User._meta.get_field("date_joined")
USERNAME = User._meta.get_field("username")


def active_before(name: str, moment: dt.datetime):
    """Active users of this name who joined before this moment: a statement with constants
    (is_active = true) among its slots."""
    return User.objects.filter(username=name, is_active=True, date_joined__lt=moment)


def run(statement: tuple[str, list]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(*statement)
        return cursor.fetchall()


def read_ids(using: str, *, name: str, moment: dt.datetime) -> tuple[str, list]:
    return sql_of(active_before(name, moment).values_list("id"), using)


def test_it_runs_with_the_values_given_not_the_samples():
    old = User.objects.create(username="ada", date_joined=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    User.objects.create(username="ada2", date_joined=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    User.objects.create(username="ada3", is_active=False)
    statement = Compiled(
        read_ids, name=Slot(USERNAME, SAMPLE_NAME), moment=Slot(JOINED, SAMPLE_TIME)
    )

    found = run(statement.sql("default", name="ada", moment=dt.datetime.now(dt.UTC)))
    before = run(
        statement.sql("default", name="ada", moment=dt.datetime(2019, 1, 1, tzinfo=dt.UTC))
    )
    inactive = run(statement.sql("default", name="ada3", moment=dt.datetime.now(dt.UTC)))

    assert found == [(old.pk,)]
    assert before == []
    assert inactive == []


def test_it_compiles_once():
    compiled = []

    def compile(using: str, **samples):
        compiled.append(using)
        return read_ids(using, **samples)

    statement = Compiled(
        compile, name=Slot(USERNAME, SAMPLE_NAME), moment=Slot(JOINED, SAMPLE_TIME)
    )
    for name in ("a", "b", "c"):
        statement.sql("default", name=name, moment=SAMPLE_TIME)

    assert compiled == ["default"]


def test_it_keeps_a_constant_equal_to_a_sample_of_another_type():
    """A constant true stays true where a slot's sample is 1 (True == 1 in Python)."""
    User.objects.create(username="one", pk=1)

    def compile(using: str, *, pk: int):
        named = User.objects.filter(pk=pk).annotate(flag=Value(True))
        return sql_of(named.values_list("username", "flag"), using)

    statement = Compiled(compile, pk=Slot(User._meta.pk, 1))
    sql, params = statement.sql("default", pk=1)

    assert [type(param) for param in params] == [bool, int]
    assert [(name, bool(flag)) for name, flag in run((sql, params))] == [("one", True)]


def test_it_fills_an_updates_values_too():
    user = User.objects.create(username="before")

    def compile(using: str, *, name: str, pk: int):
        query = User.objects.filter(pk=pk).query.chain(UpdateQuery)
        query.add_update_values({"username": name})
        return sql_of(query, using)

    statement = Compiled(compile, name=Slot(USERNAME, SAMPLE_NAME), pk=Slot(User._meta.pk, -99))
    run_update = statement.sql("default", name="after", pk=user.pk)
    with connection.cursor() as cursor:
        cursor.execute(*run_update)

    user.refresh_from_db()
    assert user.username == "after"


@pytest.mark.parametrize("pk", [2**63, -(2**63) - 1])
def test_it_finds_no_row_for_an_integer_no_column_can_hold(pk):
    """As the ORM's lookups do; the database would refuse it, or compare it as a numeric."""

    def compile(using: str, *, pk: int):
        return sql_of(User.objects.filter(pk=pk).values_list("username"), using)

    statement = Compiled(compile, pk=Slot(User._meta.pk, -99))

    with pytest.raises(EmptyResultSet):
        statement.sql("default", pk=pk)
    with pytest.raises(EmptyResultSet):
        User.objects.filter(pk=pk).values_list("username").query.sql_with_params()


def test_it_refuses_a_sample_the_statement_does_not_hold():
    """A slot whose sample the ORM turned into other SQL (None into IS NULL) would be ignored:
    the statement would always run as if with the sample."""

    def compile(using: str, *, name: str, logged_in: dt.datetime | None):
        return sql_of(User.objects.filter(username=name, last_login=logged_in), using)

    logged_in = Slot(User._meta.get_field("last_login"), None)
    statement = Compiled(compile, name=Slot(USERNAME, SAMPLE_NAME), logged_in=logged_in)

    with pytest.raises(ValueError, match="logged_in"):
        statement.sql("default", name="a", logged_in=SAMPLE_TIME)


def test_it_refuses_two_slots_with_the_same_sample():
    def compile(using: str, *, first: str, second: str):
        return sql_of(User.objects.filter(username=first, first_name=second), using)

    name = User._meta.get_field("first_name")
    statement = Compiled(compile, first=Slot(USERNAME, SAMPLE_NAME), second=Slot(name, SAMPLE_NAME))

    with pytest.raises(ValueError, match="first and second"):
        statement.sql("default", first="a", second="b")


STATEMENT = Compiled(read_ids, name=Slot(USERNAME, SAMPLE_NAME), moment=Slot(JOINED, SAMPLE_TIME))


# Whatever the values, the compiled statement finds what the ORM's own query finds.
@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
                           max_size=20), min_size=1, max_size=4, unique=True),
    name=st.integers(min_value=0, max_value=4),
    moment=st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2040, 1, 1),
                        timezones=st.just(dt.UTC)),
    joined=st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2040, 1, 1),
                        timezones=st.just(dt.UTC)),
)  # fmt: skip
def test_it_finds_what_the_orm_finds_whatever_the_values(names, name, moment, joined):
    User.objects.all().delete()  # the rows of the example before
    for n, username in enumerate(names):
        User.objects.create(username=username, date_joined=joined + dt.timedelta(days=n))
    wanted = names[name] if name < len(names) else "nobody"

    compiled = run(STATEMENT.sql("default", name=wanted, moment=moment))

    assert compiled == list(active_before(wanted, moment).values_list("id"))

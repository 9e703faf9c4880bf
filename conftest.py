import datetime as dt
import itertools
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone, translation
from django.utils.text import slugify

from campaign.lib.pagecache import TimedCache
from partners.models import Partner
from petitions.models import Petition, Signature
from petitions.services import confirm_signature
from petitions.tests.helpers import old_enough_timestamp
from stories.models import Story

_sequence = itertools.count(1)


# What this machine cannot run, and why: marker -> (reason, how many tests were left out).
_left_out: dict[str, tuple[str, int]] = {}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Leave out, with one line each in the summary, the tests this machine cannot run: the
    browser suite (marked by its folder's conftest) without Chromium, and the PostgreSQL race
    tests on SQLite. Nothing else is ever skipped."""
    from django.db import connection

    from campaign.tests.browser import CHROMIUM

    reasons = {}
    if not Path(CHROMIUM).exists():
        reasons["browser"] = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if connection.vendor != "postgresql":
        reasons["postgresql"] = "they need PostgreSQL (set DATABASE_URL=postgres://...)"
    kept, dropped = [], []
    for item in items:
        marker = next((m for m in reasons if item.get_closest_marker(m)), None)
        if marker is None:
            kept.append(item)
            continue
        dropped.append(item)
        _left_out[marker] = (reasons[marker], _left_out.get(marker, ("", 0))[1] + 1)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_terminal_summary(terminalreporter):
    for marker, (reason, count) in _left_out.items():
        terminalreporter.write_line(f"{count} {marker} tests left out: {reason}")


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SITE_URL = "https://campaign.example"
    # Pages are served fresh in tests; campaign/lib/tests/test_pagecache.py switches the cache on.
    settings.PAGE_CACHE_SECONDS = 0
    translation.activate("en")
    yield
    # A request under /nl/ leaves Dutch active in this thread; reverse() must not inherit it.
    translation.deactivate()
    cache.clear()
    TimedCache.clear_all()  # also the partners and wordings a test rolled back


@pytest.fixture
def make_story(db):
    def make(**fields) -> Story:
        n = next(_sequence)
        values = {
            "country": "NL",
            "slug": f"story-{n}",
            "headline": f"Story number {n}",
            "defender_name": "A defender",
            "partner_name": "A partner organisation",
            "partner_url": "https://partner.example/",
            "teaser": "A short teaser.",
            "body": "First paragraph.\n\nSecond paragraph.",
            "sort_order": n,
            "is_published": True,
        }
        values.update(fields)
        # A partner by name, as the stories' seed names them (created once per name).
        name, website = values.pop("partner_name"), values.pop("partner_url", "")
        if name and "partner" not in values:
            values["partner"], _created = Partner.objects.get_or_create(
                name=name,
                defaults={"slug": slugify(name)[:60], "country": values["country"],
                          "website": website},
            )  # fmt: skip
        return Story.objects.create(**values)

    return make


@pytest.fixture
def sign_in_staff(client):
    """Sign a user in to the admin as they would: password and second factor (an authenticator
    app is set up for them). Returns the client."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def sign_in(user, on=None):
        on = on or client
        device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
        on.force_login(user)
        session = on.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return on

    return sign_in


@pytest.fixture
def staff_client(sign_in_staff, django_user_model):
    user = django_user_model.objects.create_user(
        "staff", "staff@example.org", "a long test password", is_staff=True
    )
    return sign_in_staff(user)


@pytest.fixture
def client_in_group(sign_in_staff, django_user_model):
    """The test client signed in as a staff member of one of the staff groups."""

    def sign_in(group: str, username: str = "member"):
        from django.contrib.auth.models import Group

        user = django_user_model.objects.create_user(username, password="x", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        return sign_in_staff(user)

    return sign_in


@pytest.fixture
def superuser_client(sign_in_staff, django_user_model):
    user = django_user_model.objects.create_superuser(
        "admin", "admin@example.org", "a long test password"
    )
    return sign_in_staff(user)


@pytest.fixture(autouse=True)
def _steady_rate_limit_clock(monkeypatch):
    """Rate limits count in fixed windows (a minute, an hour); a test whose requests straddled
    a window's end would see its count reset. Pin the clock to the middle of every window."""
    from campaign.lib import ratelimit

    monkeypatch.setattr(ratelimit, "_now", lambda: 1_800_000_000 + 30 * 60 + 30)


@pytest.fixture
def make_petition(db):
    def make(**fields) -> Petition:
        n = next(_sequence)
        now = timezone.now()
        values = {
            "slug": f"petition-{n}",
            "title": f"Petition number {n}",
            "intro": "Defenders need protection.",
            "demands": "- Protect them.\n- Stop attacking them.",
            "addressees": "governments at the UN",
            "goal": 1000,
            "opens_at": now - dt.timedelta(days=1),
            "closes_at": now + dt.timedelta(days=30),
            "is_published": True,
        }
        values.update(fields)
        return Petition.objects.create(**values)

    return make


@pytest.fixture
def petition(make_petition) -> Petition:
    return make_petition(slug="protect-defenders", title="Protect defenders")


@pytest.fixture
def zmina(db) -> Partner:
    """A partner organisation of the coalition, as the campaign names it."""
    return Partner.objects.create(
        name="ZMINA Human Rights Centre", short_name="ZMINA", slug="zmina", country="UA"
    )


@pytest.fixture
def dignity(db) -> Partner:
    return Partner.objects.create(name="Public Association Dignity", slug="dignity", country="KZ")


@pytest.fixture
def sign_data():
    def data(**fields) -> dict:
        values = {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.org",
            "country": "NL",
            "source": "petition",
            "rendered_at": old_enough_timestamp(),
            "website": "",
        }
        values.update(fields)
        return values

    return data


@pytest.fixture
def make_signature(db):
    def make(petition: Petition, *, confirmed: bool = False, **fields) -> Signature:
        n = next(_sequence)
        values = {
            "first_name": f"First{n}",
            "last_name": f"Last{n}",
            "email": f"signer{n}@example.org",
            "country": "NL",
        }
        values.update(fields)
        signature = Signature.objects.create(petition=petition, **values)
        if confirmed:
            confirm_signature(signature_id=signature.pk)
            signature.refresh_from_db()
        return signature

    return make


@pytest.fixture
def campaign(petition, make_story, make_signature):
    """A petition with counted signatures and eight stories, in the steady state the query
    counts measure (petitions/tests and stories/tests test_query_counts.py)."""
    from unittest import mock

    from petitions.models import BreakdownSnapshot

    # Confirmations pick a random tally shard; pin it, so that the shard already exists and
    # the count is the steady state's, not the first confirmation's (which creates the row).
    with mock.patch("petitions.models.random.randrange", return_value=0):
        for n in range(8):
            make_story(slug=f"story-{n}")
        for country in ("NL", "BE", "NL"):
            make_signature(petition, confirmed=True, country=country)
        # This period's breakdown snapshot, taken here as its first reader would (four queries
        # once per period), so that the petition page is measured in the steady state.
        BreakdownSnapshot.objects.take(petition_id=petition.pk)
        petition.forget_stats()
        yield petition


class Migrator:
    """Moves the test database to earlier migrations and forward again, for tests of data
    migrations; each move returns the models as they were at that point."""

    def migrate(self, targets: list[tuple[str, str]]):
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        executor.migrate(targets)
        return executor.loader.project_state(targets).apps

    def before(self, target: tuple[str, str]) -> list[tuple[str, str]]:
        """The migrations `target` depends on: the state just before it."""
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        return list(MigrationExecutor(connection).loader.graph.nodes[target].dependencies)

    @staticmethod
    def petition(apps):
        """A petition made with the historical model, as a data migration would find it."""
        now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        return apps.get_model("petitions", "Petition").objects.create(
            slug="p", goal=10, opens_at=now, closes_at=now + dt.timedelta(days=1)
        )


@pytest.fixture
def migrator(transactional_db):
    """A Migrator; the database is back at the latest migrations afterwards, whatever the test
    did."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    yield Migrator()
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

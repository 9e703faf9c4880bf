"""The hand-in: the package governments receive, and the count frozen with it."""

import hashlib
import io
import json
import zipfile

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from petitions import exports, services
from petitions.models import ExportRecord, Petition

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator(client_in_group):
    return client_in_group("Campaign staff")


def test_it_hands_in_a_package_whose_manifest_matches_its_files(
    sign_in_staff, django_user_model, petition, make_signature
):
    user = django_user_model.objects.create_user("lead", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Data officers"))
    client = sign_in_staff(user)
    make_signature(petition, confirmed=True, country="NL", first_name="Named")
    make_signature(petition, confirmed=True, country="NL", first_name="Hidden", hide_name=True)
    make_signature(petition, confirmed=True, country="BE")
    make_signature(petition, country="BE")  # pending: not handed in
    response = client.post(
        reverse("admin:petitions_petition_changelist"),
        {"action": "hand_in", "_selected_action": [petition.pk]},
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith(
        'attachment; filename="protect-defenders-hand-in-'
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["confirmed_signatures"] == 3
    assert set(manifest["files"]) == {
        "signatures.csv",
        "countries.csv",
        "summary.html",
        "hand-in.pdf",
        "public/receipts.txt",
        "public/counts.csv",
        "public/MANIFEST.sha256",
    }
    for name, entry in manifest["files"].items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == entry["sha256"]
    signatures = archive.read("signatures.csv").decode("utf-8")
    assert "Named" in signatures and "Hidden" not in signatures
    assert "@" not in signatures  # no email addresses are handed to governments
    countries = archive.read("countries.csv").decode("utf-8")
    assert "NL,Netherlands,2" in countries and "BE,Belgium,1" in countries
    summary = archive.read("summary.html").decode("utf-8")
    assert "Protect defenders" in summary and "<strong>3</strong> confirmed signatures" in summary
    petition.refresh_from_db()
    assert petition.handed_in_count == 3
    assert petition.handed_in_at is not None
    assert ExportRecord.objects.get(kind="hand-in").row_count == 3


def test_it_offers_the_hand_in_only_to_staff_who_may_export(moderator, petition):
    response = moderator.post(
        reverse("admin:petitions_petition_changelist"),
        {"action": "hand_in", "_selected_action": [petition.pk]},
    )
    # The action is not offered to them: the list comes back, no package is made.
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert response.context["action_form"] is None  # no petition actions for them at all
    petition.refresh_from_db()
    assert petition.handed_in_count is None
    assert Petition.objects.get().handed_in_at is None


def test_it_writes_the_package_without_changing_anything(petition, make_signature):
    make_signature(petition, confirmed=True)
    package = exports.write_hand_in(petition, frozen_at=timezone.now())
    assert package.total == 1
    assert zipfile.is_zipfile(package.file)
    petition.refresh_from_db()
    assert (petition.handed_in_count, petition.handed_in_at) == (None, None)
    assert ExportRecord.objects.count() == 0


def test_it_freezes_the_count_in_the_package(petition, make_signature, django_user_model):
    user = django_user_model.objects.create_user("lead", password="x", is_staff=True)
    make_signature(petition, confirmed=True)
    make_signature(petition, confirmed=True)
    package = services.hand_in(petition=petition, user=user)
    petition.refresh_from_db()
    manifest = json.loads(zipfile.ZipFile(package.file).read("manifest.json"))
    assert petition.handed_in_count == manifest["confirmed_signatures"] == package.total == 2
    assert petition.handed_in_at is not None
    record = ExportRecord.objects.get()
    assert (record.kind, record.username, record.row_count) == ("hand-in", "lead", 2)
    assert record.completed


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgresql
def test_it_reads_the_package_and_freezes_the_count_in_one_snapshot(petition, make_signature):
    """Outside the tests' transaction, as in production: PostgreSQL refuses the isolation
    level unless it is the transaction's first statement; the package's own reads open no
    transaction of their own inside it."""
    make_signature(petition, confirmed=True)
    with CaptureQueriesContext(connection) as queries:
        package = services.hand_in(petition=petition)
    statements = [query["sql"] for query in queries.captured_queries]
    first = statements.index("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    freeze = next(n for n, sql in enumerate(statements) if "handed_in_count" in sql)
    assert first < freeze
    assert not any("SAVEPOINT" in sql for sql in statements)
    assert Petition.objects.get().handed_in_count == package.total == 1


def test_it_writes_the_summary_in_the_language_staff_choose(
    sign_in_staff, django_user_model, petition, make_signature
):
    user = django_user_model.objects.create_user("lead", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Data officers"))
    client = sign_in_staff(user)
    petition.title_ru = "Защитите правозащитников"
    petition.intro_ru, petition.demands_ru, petition.addressees_ru = "Вступление.", "- Т.", "ООН"
    petition.save()
    for _ in range(21):
        make_signature(petition, confirmed=True, country="KZ")
    changelist = client.get(reverse("admin:petitions_petition_changelist")).content.decode()
    assert '<select name="summary_language"' in changelist
    response = client.post(
        reverse("admin:petitions_petition_changelist"),
        {"action": "hand_in", "_selected_action": [petition.pk], "summary_language": "ru"},
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    summary = archive.read("summary.html").decode("utf-8")
    assert '<html lang="ru">' in summary
    assert "<h1>Защитите правозащитников</h1>" in summary
    assert "<strong>21</strong> подтверждённая подпись" in summary  # 21: the singular form
    assert "<td>Казахстан</td>" in summary
    assert "KZ,Казахстан,21" in archive.read("countries.csv").decode("utf-8")
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["title"] == "Protect defenders"  # the authoritative English
    assert manifest["summary_language"] == "ru"

"""A request to be forgotten reaches every place a signer's data can be (README, "Personal
data"): the signature row and its outbox columns, the admin's history, the export and access
records, and the caches. The last test reads every table of the database as text, the way a
copy of it would be read, and finds nothing of the signer."""

from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from petitions.models import ExportRecord, Signature
from petitions.services import confirm_signature

pytestmark = pytest.mark.django_db

EMAIL = "Zhanna.Erasable@Example.org"
FIRST, LAST = "Zhanna", "Erasable-Signer"
MARKERS = [EMAIL.lower(), FIRST, LAST]


@pytest.fixture
def signer(client, petition, sign_data, superuser_client, settings):
    """A signer who signed twice (two petitions' worth of traces), had an email set aside,
    was looked at and exported by staff, and searched for by address."""
    settings.EMAIL_QUEUE = "worker"
    response = client.post(
        reverse("petitions:sign", kwargs={"slug": petition.slug}),
        sign_data(email=EMAIL, first_name=FIRST, last_name=LAST, source="story:azerbaijan"),
    )
    assert response.status_code == 302
    signature = Signature.objects.get()
    confirm_signature(signature_id=signature.pk)  # counted: the row stays, emptied
    Signature.objects.filter(pk=signature.pk).update(email_problem="SMTPRecipientsRefused 550")
    changelist = reverse("admin:petitions_signature_changelist")
    assert superuser_client.get(changelist, {"q": EMAIL}).status_code == 200
    change = reverse("admin:petitions_signature_change", args=[signature.pk])
    assert superuser_client.get(change).status_code == 200
    export = reverse("admin:petitions_signature_export")
    b"".join(superuser_client.get(export, {"q": EMAIL, "include": "all"}).streaming_content)
    # The admin's history of an action on the signature (resend the confirmation).
    superuser_client.post(
        changelist, {"action": "resend_confirmation", "_selected_action": [signature.pk]}
    )
    return signature


def erase() -> str:
    out = StringIO()
    call_command("erase_signer", f"  {EMAIL.upper()} ", stdout=out)
    return out.getvalue()


def test_it_erases_the_signature_row_and_its_outbox(signer):
    assert "1 signatures erased." in erase()
    row = Signature.objects.filter(pk=signer.pk).values().get()
    assert row["email"] is None and row["first_name"] == row["last_name"] == ""
    assert row["source_story"] == "" and not row["email_due"] and row["email_problem"] == ""


def test_it_leaves_nothing_in_the_admin_history_or_records(signer):
    erase()
    for entry in LogEntry.objects.all():
        text = f"{entry.object_repr} {entry.change_message}"
        assert not any(marker.lower() in text.lower() for marker in MARKERS)
    for record in ExportRecord.objects.all():
        assert EMAIL.lower() not in str(record.filters).lower()


def test_it_leaves_nothing_in_the_cache(signer, settings):
    erase()
    # The local-memory cache keeps pickled values: read them as bytes.
    stored = b"".join(value for value in cache._cache.values())  # private: test only
    assert not any(marker.lower().encode() in stored.lower() for marker in MARKERS)


def test_a_copy_of_the_database_shows_nothing_of_the_signer(signer):
    erase()
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                text = " ".join(str(value) for value in row).lower()
                found += [(table, m) for m in MARKERS if m.lower() in text]
    assert found == []


def test_it_finds_the_signer_however_the_address_is_written(client, petition, sign_data):
    client.post(
        reverse("petitions:sign", kwargs={"slug": petition.slug}),
        sign_data(email="ada@bücher.example"),
    )
    out = StringIO()
    call_command("erase_signer", "ADA@BÜCHER.EXAMPLE", stdout=out)
    assert "1 signatures erased." in out.getvalue()
    assert not Signature.objects.filter(email__isnull=False).exists()

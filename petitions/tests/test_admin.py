import datetime as dt

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats, timezone, translation

from petitions.models import Signature, address_hash

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:petitions_signature_changelist"


@pytest.fixture
def moderator(client_in_group):
    return client_in_group("Campaign staff")


def test_it_lists_100_signatures_in_a_fixed_number_of_queries(
    superuser_client, petition, make_petition, make_signature
):
    other = make_petition()
    for n in range(100):
        make_signature(petition if n % 2 else other, confirmed=n % 3 == 0)
    superuser_client.get(reverse(CHANGELIST))  # warm up sessions and content types
    with CaptureQueriesContext(connection) as queries:
        response = superuser_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 100
    # Sessions, user, the second factor's device, the filters' choices (petitions, countries),
    # the count, the page of signatures with their petitions, the date hierarchy (two), and
    # the record of this look at signers' names (one INSERT): the same whatever the number of
    # rows.
    assert len(queries) <= 10, [q["sql"] for q in queries]


def test_it_shows_the_columns_staff_need(superuser_client, petition, make_signature):
    make_signature(petition, confirmed=True, first_name="Ada", last_name="Lovelace", source="home")
    html = superuser_client.get(reverse(CHANGELIST)).content.decode()
    for text in ("Ada Lovelace", "Netherlands", "confirmed", "home", "Protect defenders"):
        assert text in html


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"status__exact": "pending"}, {"pending@example.org"}),
        ({"country__exact": "BE"}, {"belgian@example.org"}),
        ({"updates": "yes"}, {"news@example.org"}),
        ({"q": "news@example.org"}, {"news@example.org"}),
        ({"q": "  News@Example.ORG "}, {"news@example.org"}),  # as the signing form stores it
        ({"q": "news@example"}, set()),  # never part of an address
        ({"q": "Belgian"}, set()),  # nor of a name
        ({"q": "belgian"}, set()),
    ],
)
def test_it_filters_and_searches_signatures(
    superuser_client, petition, make_signature, params, expected
):
    make_signature(petition, email="pending@example.org")
    make_signature(
        petition, confirmed=True, email="belgian@example.org", country="BE", last_name="Belgian"
    )
    make_signature(petition, confirmed=True, email="news@example.org", wants_updates=True)
    response = superuser_client.get(reverse(CHANGELIST), params)
    assert response.status_code == 200
    result = response.context["cl"].result_list
    # By each address's hash: a confirmed signer who asked for no updates has only that left.
    assert {s.email_hash for s in result} == {address_hash(email) for email in expected}


def test_it_keeps_personal_fields_read_only_and_offers_no_delete(
    superuser_client, petition, make_signature
):
    signature = make_signature(petition, first_name="Original")
    url = reverse("admin:petitions_signature_change", args=[signature.pk])
    response = superuser_client.get(url)
    assert response.status_code == 200
    assert 'name="first_name"' not in response.content.decode()
    assert superuser_client.post(url, {"first_name": "Changed"}).status_code == 403
    signature.refresh_from_db()
    assert signature.first_name == "Original"
    delete = reverse("admin:petitions_signature_delete", args=[signature.pk])
    assert superuser_client.post(delete, {"post": "yes"}).status_code == 403
    assert Signature.objects.filter(pk=signature.pk).exists()


def test_it_marks_fraud_out_of_the_count_but_keeps_the_row(moderator, petition, make_signature):
    kept = make_signature(petition, confirmed=True)
    fraud = make_signature(petition, confirmed=True)
    response = moderator.post(
        reverse(CHANGELIST), {"action": "mark_fraudulent", "_selected_action": [fraud.pk]}
    )
    assert response.status_code == 302
    fraud.refresh_from_db()
    assert fraud.status == Signature.Status.FRAUDULENT
    assert fraud.email_hash  # kept for audit (the address itself went at confirmation)
    assert petition.confirmed_count == 1
    assert Signature.objects.get(pk=kept.pk).status == Signature.Status.CONFIRMED


def test_it_erases_personal_data_from_the_admin(client_in_group, petition, make_signature):
    confirmed = make_signature(petition, confirmed=True, first_name="Erase", last_name="Me")
    pending = make_signature(petition)
    client_in_group("Data officers").post(
        reverse(CHANGELIST),
        {"action": "erase", "_selected_action": [confirmed.pk, pending.pk]},
    )
    confirmed.refresh_from_db()
    assert (confirmed.first_name, confirmed.last_name, confirmed.email) == ("", "", None)
    assert confirmed.erased_at is not None
    assert not Signature.objects.filter(pk=pending.pk).exists()
    assert petition.confirmed_count == 1


def test_it_resends_confirmation_to_the_selected_pending_signatures_only(
    moderator, petition, make_signature
):
    chosen = make_signature(petition, email="chosen@example.org")
    make_signature(petition, email="not-chosen@example.org")
    counted = make_signature(petition, confirmed=True, email="counted@example.org")
    moderator.post(
        reverse(CHANGELIST),
        {"action": "resend_confirmation", "_selected_action": [chosen.pk, counted.pk]},
    )
    assert [m.to for m in mail.outbox] == [["chosen@example.org"]]


def test_it_shows_counts_and_state_in_the_petition_list(
    superuser_client, petition, make_petition, make_signature
):
    make_petition(title="Old call", closes_at=timezone.now() - dt.timedelta(days=1),
                  opens_at=timezone.now() - dt.timedelta(days=10))  # fmt: skip
    make_signature(petition, confirmed=True)
    make_signature(petition, confirmed=True)
    make_signature(petition)
    response = superuser_client.get(reverse("admin:petitions_petition_changelist"))
    html = response.content.decode()
    row = {p.title: p for p in response.context["cl"].result_list}
    assert row["Protect defenders"].confirmed_total == 2
    assert row["Protect defenders"].pending_total == 1
    assert ">open<" in html and ">closed<" in html


def test_it_reports_signatures_per_day_country_and_source(
    superuser_client, petition, make_signature, make_story
):
    make_story(slug="hungary", headline="A story from Hungary")
    make_signature(petition, confirmed=True, country="HU", source="story", source_story="hungary")
    make_signature(petition, confirmed=True, country="HU", source="home")
    make_signature(petition, confirmed=True, country="NL", source="home")
    response = superuser_client.get(reverse("admin:petitions_petition_change", args=[petition.pk]))
    report = response.context["report"]
    assert report.per_day.rows[-1][1] == 3
    assert len(report.per_day.rows) == 28
    assert report.by_country.rows == [("Hungary (HU)", 2), ("Netherlands (NL)", 1)]
    assert report.by_source.rows == [("home page", 2), ("a story", 1)]
    assert report.by_story.rows == [("A story from Hungary", 1)]
    assert "Which page brought them" in response.content.decode()


def test_it_escapes_html_in_names_on_every_admin_page(superuser_client, petition, make_signature):
    signature = make_signature(
        petition, confirmed=True, first_name="<script>alert(1)</script>", last_name="<b>x</b>"
    )
    pages = [
        reverse(CHANGELIST),
        reverse("admin:petitions_signature_change", args=[signature.pk]),
        reverse("admin:petitions_petition_change", args=[petition.pk]),
        reverse(CHANGELIST) + "?q=script",
    ]
    for url in pages:
        html = superuser_client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html, url
        assert "<b>x</b>" not in html, url


def test_it_never_lets_admin_pages_be_cached(superuser_client):
    response = superuser_client.get(reverse(CHANGELIST))
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_it_serves_the_admin_at_the_configured_address(settings):
    assert reverse("admin:index") == "/" + settings.ADMIN_URL


def test_the_report_reads_in_the_admins_language(superuser_client, petition, make_signature):
    for _ in range(2):
        make_signature(petition, confirmed=True, country="HU")
    url = reverse("admin:petitions_petition_change", args=[petition.pk])
    with translation.override("ru"):
        russian_url = reverse("admin:petitions_petition_change", args=[petition.pk])
        today = formats.date_format(timezone.localdate(), "DATE_FORMAT")
    assert russian_url == f"/ru{url}"
    report = superuser_client.get(russian_url).context["report"]
    assert report.per_day.rows[-1][0] == today  # "30 ноября 2026 г."
    assert today.endswith(" г.")  # Russian dates, not ISO ones
    assert report.by_country.rows[0][0] == "Венгрия (HU)"

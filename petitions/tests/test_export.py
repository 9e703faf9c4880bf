import csv
import datetime as dt
import io
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse

from campaign.lib.sealed import UnsealError, as_stored, stored_token
from petitions import exports
from petitions.exports import neutralise
from petitions.models import ExportRecord, Signature
from petitions.services import mark_fraudulent

pytestmark = pytest.mark.django_db

EXPORT_URL = "admin:petitions_signature_export"


@pytest.fixture
def exporter(client_in_group):
    return client_in_group("Data officers", username="exporter")


@pytest.fixture
def moderator(client_in_group):
    return client_in_group("Campaign staff")


def read_csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


def test_it_exports_exactly_the_filtered_and_searched_confirmed_signatures(
    exporter, petition, make_petition, make_signature
):
    other = make_petition()
    wanted = make_signature(
        petition, confirmed=True, country="NL", email="jansen@example.org", wants_updates=True
    )
    make_signature(petition, confirmed=True, country="NL", email="jansen@example.net")
    make_signature(petition, confirmed=True, country="BE", email="peters@example.org")
    make_signature(petition, country="NL", email="jansen.smit@example.org")  # pending
    make_signature(other, confirmed=True, country="NL", email="jansen@example.org")
    response = exporter.get(
        reverse(EXPORT_URL),
        {"petition__id__exact": petition.pk, "country__exact": "NL", "q": "Jansen@Example.org"},
    )
    assert response.status_code == 200
    rows = read_csv(response)
    assert [r["email"] for r in rows] == [wanted.email]
    assert list(rows[0]) == [
        "first_name",
        "last_name",
        "email",
        "country_code",
        "country_name",
        "confirmed_at",
        "updates_consent",
        "source_page",
    ]


def test_it_writes_each_column_as_documented(exporter, petition, make_signature):
    signature = make_signature(
        petition,
        confirmed=True,
        first_name="Zoë",
        country="PL",
        wants_updates=True,
        source="story",
        source_story="poland",
    )
    response = exporter.get(reverse(EXPORT_URL), {"petition__id__exact": petition.pk})
    [row] = read_csv(response)
    assert row["first_name"] == "Zoë"
    assert row["country_code"] == "PL"
    assert row["country_name"] == "Poland"
    assert row["confirmed_at"] == signature.confirmed_at.isoformat().replace("+00:00", "Z")
    assert row["confirmed_at"].endswith("Z")
    assert row["updates_consent"] == "yes"
    assert row["source_page"] == "story:poland"
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="protect-defenders-signatures-20')


@pytest.mark.parametrize(
    ("moment", "cell"),
    [
        (dt.datetime(2026, 3, 1, 9, 5, 7, tzinfo=dt.UTC), "2026-03-01T09:05:07Z"),
        (dt.datetime(2026, 3, 1, 9, 5, 7, 120, tzinfo=dt.UTC), "2026-03-01T09:05:07.000120Z"),
        (
            dt.datetime(2026, 3, 1, 11, 5, 7, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2026-03-01T09:05:07Z",
        ),
    ],
)
def test_it_writes_the_moment_of_confirmation_in_utc_as_iso_8601(
    exporter, petition, make_signature, moment, cell
):
    signature = make_signature(petition, confirmed=True)
    Signature.objects.filter(pk=signature.pk).update(confirmed_at=moment)
    [row] = read_csv(exporter.get(reverse(EXPORT_URL)))
    assert row["confirmed_at"] == cell == exports._iso_utc(moment)


def test_it_includes_unconfirmed_signatures_only_when_asked_and_never_fraudulent_ones(
    exporter, petition, make_signature
):
    confirmed = make_signature(petition, confirmed=True, wants_updates=True)
    pending = make_signature(petition)
    fraud = make_signature(petition, confirmed=True)
    mark_fraudulent(Signature.objects.filter(pk=fraud.pk))
    default = read_csv(exporter.get(reverse(EXPORT_URL)))
    assert [r["email"] for r in default] == [confirmed.email]
    everything = read_csv(exporter.get(reverse(EXPORT_URL), {"include": "all"}))
    assert sorted(r["email"] for r in everything) == sorted([confirmed.email, pending.email])


def test_it_applies_the_list_filters_together_with_include_all(
    exporter, petition, make_petition, make_signature
):
    confirmed = make_signature(petition, confirmed=True, country="NL", wants_updates=True)
    pending = make_signature(petition, country="NL")
    make_signature(petition, country="BE")  # another country
    make_signature(make_petition(), country="NL")  # another petition
    params = {"petition__id__exact": petition.pk, "country__exact": "NL", "include": "all"}
    rows = read_csv(exporter.get(reverse(EXPORT_URL), params))
    assert sorted(r["email"] for r in rows) == sorted([confirmed.email, pending.email])
    assert ExportRecord.objects.get().filters == {
        "petition__id__exact": [str(petition.pk)],
        "country__exact": ["NL"],
        "include": True,
    }


def test_it_sends_a_filter_value_the_list_refuses_back_to_the_list(exporter, petition):
    response = exporter.get(reverse(EXPORT_URL), {"petition__id__exact": "not a number"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:petitions_signature_changelist") + "?e=1"
    assert ExportRecord.objects.count() == 0


@pytest.mark.parametrize(
    "params",
    [{"no_such_field": "1"}, {"email__startswith": "a"}, {"first_name__icontains": "a"}],
)
def test_it_refuses_an_export_filtered_by_what_the_list_does_not_declare(
    exporter, petition, make_signature, params
):
    make_signature(petition, confirmed=True, first_name="Ada", email="ada@example.org")
    response = exporter.get(reverse(EXPORT_URL), params)
    assert response.status_code == 400
    assert b"ada@example.org" not in response.content
    assert ExportRecord.objects.count() == 0


def test_it_records_that_an_export_was_searched_but_not_what_for(exporter, petition):
    read_csv(
        exporter.get(
            reverse(EXPORT_URL), {"q": "someone@example.org", "status__exact": "confirmed"}
        )
    )
    assert ExportRecord.objects.get().filters == {
        "status__exact": ["confirmed"],
        "search": "yes",
        "include": False,
    }


def test_it_leaves_out_the_names_of_signers_who_asked(exporter, petition, make_signature):
    make_signature(
        petition, confirmed=True, hide_name=True, email="quiet@example.org", wants_updates=True
    )
    [row] = read_csv(exporter.get(reverse(EXPORT_URL)))
    assert (row["first_name"], row["last_name"]) == ("", "")
    assert row["email"] == "quiet@example.org"


def test_it_neutralises_cells_a_spreadsheet_would_run(exporter, petition, make_signature):
    make_signature(
        petition,
        confirmed=True,
        first_name='=HYPERLINK("http://evil.example","click")',
        last_name="+SUM(1,2)",
    )
    [row] = read_csv(exporter.get(reverse(EXPORT_URL)))
    assert row["first_name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert row["last_name"] == "'+SUM(1,2)"
    for dangerous in ("=1", "+1", "-1", "@x", "\tx", "\rx"):
        assert neutralise(dangerous) == "'" + dangerous
    assert neutralise("Ada") == "Ada"


def test_it_writes_every_row_across_chunks_opened_and_neutralised(
    exporter, petition, make_signature, monkeypatch
):
    monkeypatch.setattr(exports, "CHUNK_SIZE", 2)
    names = ["=1+1", "Ada", "@SUM(A1)", "-2", "Zoë"]
    signatures = [
        make_signature(
            petition, confirmed=True, first_name=name, last_name=f"+{n}", wants_updates=n % 2
        )
        for n, name in enumerate(names)
    ]
    stored = Signature.objects.values_list(stored_token("first_name"), flat=True)
    assert not set(stored) & set(names)  # sealed in the database
    response = exporter.get(reverse(EXPORT_URL))
    chunks = list(response.streaming_content)
    assert len(chunks) == 4  # the header, then two rows at a time
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode("utf-8")[1:])))
    assert [row["first_name"] for row in rows] == ["'=1+1", "Ada", "'@SUM(A1)", "'-2", "Zoë"]
    assert [row["last_name"] for row in rows] == [f"'+{n}" for n in range(5)]
    assert [row["email"] for row in rows] == [s.email or "" for s in signatures]
    assert [bool(row["email"]) for row in rows] == [False, True, False, True, False]
    assert ExportRecord.objects.get().row_count == 5


def test_it_never_opens_the_names_of_signers_who_asked_to_be_left_out(
    exporter, petition, make_signature
):
    quiet = make_signature(petition, confirmed=True, hide_name=True)
    # A name no key opens would stop the export if it were opened.
    Signature.objects.filter(pk=quiet.pk).update(first_name=as_stored("gAAAAAB-broken"))
    [row] = read_csv(exporter.get(reverse(EXPORT_URL)))
    assert (row["first_name"], row["last_name"], row["email"]) == ("", "", "")
    assert ExportRecord.objects.get().completed


def test_it_records_an_export_that_stopped_as_not_completed(exporter, petition, make_signature):
    broken = make_signature(petition, confirmed=True)
    Signature.objects.filter(pk=broken.pk).update(last_name=as_stored("gAAAAAB-broken"))
    with pytest.raises(UnsealError):
        read_csv(exporter.get(reverse(EXPORT_URL)))
    record = ExportRecord.objects.get()
    assert (record.row_count, record.completed) == (0, False)


def test_it_records_who_exported_what(exporter, petition, make_signature):
    make_signature(petition, confirmed=True)
    make_signature(petition, confirmed=True)
    read_csv(exporter.get(reverse(EXPORT_URL), {"petition__id__exact": petition.pk}))
    record = ExportRecord.objects.get()
    assert record.kind == ExportRecord.Kind.ADMIN_CSV
    assert record.username == "exporter"
    assert record.petition == petition
    assert record.row_count == 2
    assert record.completed
    assert record.filters["petition__id__exact"] == [str(petition.pk)]


def test_it_refuses_the_export_to_staff_who_may_not_see_personal_data(
    sign_in_staff, django_user_model, petition
):
    user = django_user_model.objects.create_user("half", password="x", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_signature", "export_signatures"])
    )
    response = sign_in_staff(user).get(reverse(EXPORT_URL))
    assert response.status_code == 403
    assert ExportRecord.objects.count() == 0


def test_it_refuses_the_export_to_staff_without_the_permission(moderator, petition):
    response = moderator.get(reverse(EXPORT_URL))
    assert response.status_code == 403
    assert ExportRecord.objects.count() == 0
    changelist = moderator.get(reverse("admin:petitions_signature_changelist"))
    assert changelist.status_code == 200
    assert "Export CSV" not in changelist.content.decode()


def test_it_shows_the_export_buttons_with_the_current_filters(exporter, petition):
    changelist = exporter.get(
        reverse("admin:petitions_signature_changelist"), {"country__exact": "NL"}
    )
    html = changelist.content.decode()
    assert f'href="{reverse(EXPORT_URL)}?country__exact=NL"' in html
    assert f'href="{reverse(EXPORT_URL)}?country__exact=NL&amp;include=all"' in html


def test_it_shows_export_records_to_superusers_only(
    superuser_client, sign_in_staff, petition, django_user_model
):
    ExportRecord.objects.create(kind="admin", username="someone", petition=petition, row_count=3)
    url = reverse("admin:petitions_exportrecord_changelist")
    assert superuser_client.get(url).status_code == 200
    staff = django_user_model.objects.create_user("nosy", password="x", is_staff=True)
    staff.groups.add(Group.objects.get(name="Data officers"))
    assert sign_in_staff(staff, on=superuser_client).get(url).status_code == 403


def test_it_exports_from_the_command_line(petition, make_signature, tmp_path):
    make_signature(petition, confirmed=True, email="one@example.org", wants_updates=True)
    make_signature(petition, email="two@example.org")
    target = tmp_path / "out.csv"
    errors = StringIO()
    call_command("export_signatures", petition.slug, "--output", str(target), stderr=errors)
    text = target.read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    assert "one@example.org" in text and "two@example.org" not in text
    assert "1 signatures written" in errors.getvalue()
    call_command("export_signatures", petition.slug, "--all", "--output", str(target))
    assert "two@example.org" in target.read_text(encoding="utf-8")
    assert ExportRecord.objects.filter(kind="command").count() == 2

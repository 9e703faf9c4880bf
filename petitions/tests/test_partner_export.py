"""A partner's export: for its data officers (and the campaign's), the confirmed signers of a
petition who agreed to hear from that partner, each with the words they agreed to and when;
streamed, safe to open in a spreadsheet, and recorded."""

import csv
import io
import itertools

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from partners.models import Partner, PartnerStaff
from petitions.models import ConsentWording, ExportRecord, Signature
from petitions.services import erase_signatures, mark_fraudulent

pytestmark = pytest.mark.django_db

_users = itertools.count(1)
WORDS = "ZMINA may email me about its work."

HEADER = [
    "first_name",
    "last_name",
    "email",
    "country_code",
    "country_name",
    "language",
    "consent_wording_version",
    "consent_wording",
    "consented_at",
    "confirmed_at",
]


@pytest.fixture
def wording(db) -> ConsentWording:
    return ConsentWording.objects.get(pk=ConsentWording.objects.id_for("uk", WORDS))


@pytest.fixture
def consenting(make_signature, wording):
    """A signer who agreed to hear from the partner, with the words they were shown."""

    def make(petition, partner, *, confirmed: bool = True, **fields) -> Signature:
        fields = {"partner_updates": True, "partner_updates_wording": wording, **fields}
        return make_signature(petition, confirmed=confirmed, partner=partner, **fields)

    return make


@pytest.fixture
def as_user(sign_in_staff, django_user_model):
    def sign_in(*, group: str = "", partner: Partner | None = None, officer: bool = False):
        user = django_user_model.objects.create_user(
            f"user{next(_users)}", password="x", is_staff=True
        )
        if group:
            user.groups.add(Group.objects.get(name=group))
        if partner is not None:
            PartnerStaff.objects.create(user=user, partner=partner, is_data_officer=officer)
        client = sign_in_staff(user, on=Client())
        client.user = user
        return client

    return sign_in


def export_url(partner: Partner) -> str:
    return reverse("partner_figures:export", args=[partner.slug])


def read_csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    reader = csv.DictReader(io.StringIO(body[1:]))
    rows = list(reader)
    assert reader.fieldnames == HEADER
    return rows


def test_it_exports_only_the_consenting_confirmed_signers_of_that_partner_and_petition(
    as_user, zmina, dignity, petition, make_petition, make_signature, consenting
):
    wanted = consenting(petition, zmina)
    consenting(petition, zmina, confirmed=False)  # pending
    make_signature(petition, confirmed=True, partner=zmina)  # no consent to the partner
    erased = consenting(petition, zmina)
    erase_signatures(Signature.objects.filter(pk=erased.pk))
    fraud = consenting(petition, zmina)
    mark_fraudulent(Signature.objects.filter(pk=fraud.pk))
    consenting(petition, dignity)  # another partner's
    consenting(make_petition(opens_at=petition.opens_at), zmina)  # another petition
    officer = as_user(partner=zmina, officer=True)
    rows = read_csv(officer.post(export_url(zmina), {"petition": petition.slug}))
    assert [row["email"] for row in rows] == [wanted.email]


def test_it_writes_the_consent_with_its_wording_version_text_and_time(
    as_user, zmina, petition, consenting, wording
):
    signature = consenting(
        petition, zmina, first_name="Оксана", last_name="Коваль", country="UA", language="uk"
    )
    response = as_user(partner=zmina, officer=True).post(
        export_url(zmina), {"petition": petition.slug}
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(
        'attachment; filename="protect-defenders-zmina-consenting-signers-20'
    )
    [row] = read_csv(response)
    assert row == {
        "first_name": "Оксана",
        "last_name": "Коваль",
        "email": signature.email,
        "country_code": "UA",
        "country_name": "Ukraine",
        "language": "uk",
        "consent_wording_version": str(wording.pk),
        "consent_wording": WORDS,
        "consented_at": signature.created_at.isoformat().replace("+00:00", "Z"),
        "confirmed_at": signature.confirmed_at.isoformat().replace("+00:00", "Z"),
    }


def test_it_leaves_out_the_names_of_signers_who_asked_to_be_left_out(
    as_user, zmina, petition, consenting
):
    signature = consenting(petition, zmina, hide_name=True)
    [row] = read_csv(
        as_user(partner=zmina, officer=True).post(export_url(zmina), {"petition": petition.slug})
    )
    assert (row["first_name"], row["last_name"], row["email"]) == ("", "", signature.email)


def test_cells_a_spreadsheet_would_run_are_written_as_text(as_user, zmina, petition, consenting):
    consenting(petition, zmina, first_name='=HYPERLINK("https://evil.example")', last_name="+1")
    [row] = read_csv(
        as_user(partner=zmina, officer=True).post(export_url(zmina), {"petition": petition.slug})
    )
    assert row["first_name"] == '\'=HYPERLINK("https://evil.example")'
    assert row["last_name"] == "'+1"


def test_each_export_is_recorded_with_its_partner_and_how_many_rows(
    as_user, zmina, petition, consenting
):
    for _n in range(3):
        consenting(petition, zmina)
    officer = as_user(partner=zmina, officer=True)
    response = officer.post(export_url(zmina), {"petition": petition.slug})
    record = ExportRecord.objects.get()
    assert (record.kind, record.partner, record.petition) == ("partner", zmina, petition)
    assert (record.user, record.username) == (officer.user, officer.user.username)
    assert record.filters == {"partner": "zmina", "petition": "protect-defenders"}
    assert not record.completed  # not until the file has been sent
    assert len(read_csv(response)) == 3
    record.refresh_from_db()
    assert (record.row_count, record.completed) == (3, True)


def test_it_exports_the_featured_petitions_signers_unless_told(
    as_user, zmina, petition, consenting
):
    signature = consenting(petition, zmina)
    rows = read_csv(as_user(partner=zmina, officer=True).post(export_url(zmina)))
    assert [row["email"] for row in rows] == [signature.email]


def test_the_campaigns_data_officers_may_export_any_partners_signers(
    as_user, zmina, petition, consenting
):
    signature = consenting(petition, zmina)
    rows = read_csv(as_user(group="Data officers").post(export_url(zmina)))
    assert [row["email"] for row in rows] == [signature.email]


def test_a_partners_staff_who_are_not_its_data_officer_get_403(as_user, zmina, petition):
    response = as_user(partner=zmina).post(export_url(zmina), {"petition": petition.slug})
    assert response.status_code == 403
    assert not ExportRecord.objects.exists()


def test_campaign_staff_who_may_not_see_personal_data_get_403(as_user, zmina, petition):
    response = as_user(group="Campaign staff").post(export_url(zmina))
    assert response.status_code == 403


def test_another_partners_data_officer_gets_404(as_user, zmina, dignity, petition, consenting):
    consenting(petition, zmina)
    response = as_user(partner=dignity, officer=True).post(export_url(zmina))
    assert response.status_code == 404
    assert not ExportRecord.objects.exists()


def test_a_get_exports_nothing(as_user, zmina, petition, consenting):
    consenting(petition, zmina)
    response = as_user(partner=zmina, officer=True).get(export_url(zmina))
    assert response.status_code == 405
    assert not ExportRecord.objects.exists()


def test_it_needs_the_second_factor(django_user_model, zmina, petition, consenting):
    consenting(petition, zmina)
    user = django_user_model.objects.create_user("officer", password="x", is_staff=True)
    PartnerStaff.objects.create(user=user, partner=zmina, is_data_officer=True)
    client = Client()
    client.force_login(user)
    response = client.post(export_url(zmina))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert not ExportRecord.objects.exists()


def test_the_button_is_shown_to_the_partners_data_officer_only(as_user, zmina, petition):
    page = reverse("partner_figures:detail", args=[zmina.slug])
    button = "Download the signers who agreed to hear from ZMINA"
    assert button in as_user(partner=zmina, officer=True).get(page).content.decode()
    assert button not in as_user(partner=zmina).get(page).content.decode()
    assert button not in as_user(group="Campaign staff").get(page).content.decode()


def test_only_a_partner_export_names_a_partner(zmina):
    with pytest.raises(IntegrityError), transaction.atomic():
        ExportRecord.objects.create(kind=ExportRecord.Kind.ADMIN_CSV, username="x", partner=zmina)
    ExportRecord.objects.create(kind=ExportRecord.Kind.PARTNER_CSV, username="x", partner=zmina)


def test_without_a_published_petition_there_is_nothing_to_export(as_user, zmina, make_petition):
    make_petition(is_published=False)
    response = as_user(partner=zmina, officer=True).post(export_url(zmina))
    assert response.status_code == 404
    assert not ExportRecord.objects.exists()

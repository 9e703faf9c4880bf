"""Staff roles: each sees what its work needs. Signers' names and email addresses only for data
officers (and superusers), every look at them recorded; the list takes only its own filters."""

import importlib
import itertools

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.sites import site
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory
from django.urls import reverse

from petitions.models import PersonalDataAccess, Petition, Signature

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:petitions_signature_changelist"
ROLES_MIGRATION = importlib.import_module("petitions.migrations.0010_least_privilege_roles")
_users = itertools.count(1)

# Who signed, as nobody but data officers may ever see it.
FIRST, LAST, EMAIL = "Zelda", "Quarantino", "zelda.q@example.org"
SECRETS = (FIRST, LAST, "zelda", "Quarantino")


@pytest.fixture
def as_role(sign_in_staff, django_user_model):
    """A client of its own, signed in as a new member of a role (or a superuser)."""

    def sign_in(role: str) -> Client:
        username = f"user{next(_users)}"
        if role == "superuser":
            user = django_user_model.objects.create_superuser(username, password="x")
        else:
            user = django_user_model.objects.create_user(username, password="x", is_staff=True)
            user.groups.add(Group.objects.get(name=role))
        return sign_in_staff(user, on=Client())

    return sign_in


@pytest.fixture
def zelda(petition, make_signature) -> Signature:
    # Asked for updates, so that the address is kept once confirmed.
    return make_signature(
        petition,
        confirmed=True,
        first_name=FIRST,
        last_name=LAST,
        email=EMAIL,
        country="KZ",
        wants_updates=True,
    )


def assert_no_personal_data(response) -> None:
    html = response.content.decode()
    for secret in SECRETS:
        assert secret not in html, response.request["PATH_INFO"]


def permissions_of(group: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=group).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


# The roles ---------------------------------------------------------------------------------


def test_it_gives_each_role_exactly_its_permissions(db):
    assert not Group.objects.filter(name="Signature exporters").exists()
    stories = {
        f"stories.{action}_{model}"
        for action in ("view", "add", "change")
        for model in ("story", "milestone", "page")
    }
    staff = {"petitions.view_petition", "petitions.view_signature", "petitions.change_signature"}
    partners = {f"partners.{action}_partner" for action in ("view", "add", "change")}
    assert permissions_of("Editors") == {
        *stories,
        *partners,
        "petitions.view_petition",
        "petitions.change_petition",
    }
    high_risk = {f"petitions.{action}_highriskcountry" for action in ("view", "add", "delete")}
    assert permissions_of("Campaign staff") == {*staff, *high_risk}
    assert permissions_of("Data officers") == {
        *staff,
        "petitions.view_personal_data",
        "petitions.export_signatures",
        "petitions.erase_signatures",
    }


@pytest.mark.django_db(transaction=True)
def test_it_reshapes_the_old_roles_keeping_their_members_and_forgets_signers_in_the_logs(
    django_user_model, migrator
):
    before = [("petitions", "0009_personal_data_access")]
    after = [("petitions", "0011_no_signer_data_in_records")]
    old = migrator.migrate(before)  # the roles as 0003 made them
    Group_ = old.get_model("auth", "Group")
    moderator = django_user_model.objects.create_user("moderator")
    exporter = django_user_model.objects.create_user("exporter")
    moderator.groups.add(Group_.objects.get(name="Campaign staff").pk)
    exporter.groups.add(Group_.objects.get(name="Signature exporters").pk)
    # What was written before: a signer's name in the admin's log, an address searched for.
    entry = LogEntry.objects.create(
        user=moderator,
        content_type_id=old.get_model("contenttypes", "ContentType")
        .objects.get(app_label="petitions", model="signature")
        .pk,
        object_id="42",
        object_repr="Zelda Quarantino",
        action_flag=CHANGE,
    )
    old.get_model("petitions", "ExportRecord").objects.create(
        kind="admin", username="exporter", filters={"q": [EMAIL], "status__exact": ["x"]}
    )

    state = migrator.migrate(after)
    memberships = {
        user.username: set(user.groups.values_list("name", flat=True))
        for user in (moderator, exporter)
    }
    assert memberships == {
        "moderator": {"Campaign staff", "Editors"},  # they edited stories before
        "exporter": {"Data officers"},
    }
    assert not Group.objects.filter(name="Signature exporters").exists()
    entry.refresh_from_db()
    assert entry.object_repr == "Signature #42"
    records = state.get_model("petitions", "ExportRecord").objects  # as 0011 left the table
    assert records.get().filters == {"status__exact": ["x"], "search": "yes"}

    # Again: nothing changes, and whom a superuser took out of the editors stays out.
    moderator.groups.remove(Group.objects.get(name="Editors"))
    ROLES_MIGRATION.reshape_roles(state, None)
    assert Group.objects.count() == 3
    assert set(moderator.groups.values_list("name", flat=True)) == {"Campaign staff"}
    assert set(exporter.groups.values_list("name", flat=True)) == {"Data officers"}
    assert "petitions.view_personal_data" in permissions_of("Data officers")

    migrator.migrate(before)  # and back
    assert set(exporter.groups.values_list("name", flat=True)) == {"Signature exporters"}
    assert "stories.change_story" in permissions_of("Campaign staff")
    assert not Group.objects.filter(name__in=["Editors", "Data officers"]).exists()


# Editors -----------------------------------------------------------------------------------


def test_it_keeps_editors_away_from_signatures(as_role, zelda):
    editor = as_role("Editors")
    for url in (
        reverse(CHANGELIST),
        reverse(CHANGELIST) + f"?q={EMAIL}",
        reverse("admin:petitions_signature_change", args=[zelda.pk]),
        reverse("admin:petitions_signature_history", args=[zelda.pk]),
        reverse("admin:petitions_signature_export"),
        reverse("admin:petitions_personaldataaccess_changelist"),
    ):
        response = editor.get(url)
        assert response.status_code == 403, url
        assert_no_personal_data(response)
    assert PersonalDataAccess.objects.count() == 0


def test_it_lets_editors_change_a_petitions_text_but_not_how_it_is_signed(as_role, petition, zelda):
    editor = as_role("Editors")
    url = reverse("admin:petitions_petition_change", args=[petition.pk])
    page = editor.get(url)
    assert page.status_code == 200
    assert "report" not in page.context  # what is counted from signatures is not theirs
    assert 'name="title_en"' in page.content.decode()
    assert 'name="title_ru"' in page.content.decode()
    assert 'name="goal"' not in page.content.decode()
    response = editor.post(
        url,
        {
            "title_en": "Protect all defenders",
            "addressees_en": "governments",
            "language": petition.language,
            "intro_en": "New intro.",
            "demands_en": "- One.",
            "title_ru": "Защитите всех правозащитников",
            "goal": 1,
            "slug": "changed",
            "is_published": "",
        },
    )
    assert response.status_code == 302
    petition.refresh_from_db()
    assert (petition.title, petition.intro) == ("Protect all defenders", "New intro.")
    assert petition.title_ru == "Защитите всех правозащитников"
    assert (petition.goal, petition.slug, petition.is_published) == (
        1000,
        "protect-defenders",
        True,
    )
    listing = editor.get(reverse("admin:petitions_petition_changelist"))
    assert "confirmed" not in listing.context["cl"].list_display


def test_it_lets_editors_edit_stories_and_campaign_staff_not(as_role):
    add_story = reverse("admin:stories_story_add")
    assert as_role("Editors").get(add_story).status_code == 200
    assert as_role("Campaign staff").get(add_story).status_code == 403
    assert as_role("Data officers").get(add_story).status_code == 403


# Campaign staff ----------------------------------------------------------------------------


def test_it_shows_campaign_staff_signatures_without_names_or_addresses(as_role, petition, zelda):
    staff = as_role("Campaign staff")
    for term in (EMAIL, FIRST, LAST):
        search = staff.get(reverse(CHANGELIST), {"q": term})
        assert list(search.context["cl"].result_list) == []
        # What they typed is on the page (the search box, the filters' links); nothing else.
        html = search.content.decode()
        assert not [other for other in (EMAIL, FIRST, LAST) if other != term and other in html]
    pages = [
        reverse(CHANGELIST),
        reverse(CHANGELIST) + f"?q={zelda.pk}",
        reverse(CHANGELIST) + "?o=1",
        reverse(CHANGELIST) + "?o=-2.3",
        reverse("admin:petitions_signature_change", args=[zelda.pk]),
        reverse("admin:petitions_signature_history", args=[zelda.pk]),
        reverse("admin:petitions_petition_change", args=[petition.pk]),
        reverse("admin:index"),
    ]
    for url in pages:
        response = staff.get(url)
        assert response.status_code == 200, url
        assert_no_personal_data(response)
        assert "zelda.q" not in response.content.decode(), url
    listing = staff.get(reverse(CHANGELIST))
    assert f"Signature #{zelda.pk}" in listing.content.decode()
    detail = staff.get(reverse("admin:petitions_signature_change", args=[zelda.pk]))
    assert detail.context["subtitle"] == f"Signature #{zelda.pk}"
    assert "Kazakhstan" in detail.content.decode()  # what is not personal is shown
    assert PersonalDataAccess.objects.count() == 0


@pytest.mark.parametrize("term", ["{id}", "#{id}", " {id} "])
def test_it_lets_campaign_staff_find_a_signature_by_its_number_only(
    as_role, petition, make_signature, zelda, term
):
    make_signature(petition)
    staff = as_role("Campaign staff")
    found = staff.get(reverse(CHANGELIST), {"q": term.format(id=zelda.pk)})
    assert [s.pk for s in found.context["cl"].result_list] == [zelda.pk]
    for nothing in (EMAIL, FIRST, "example.org", "ZELDA.Q@EXAMPLE.ORG", "12345678901234567890"):
        assert list(staff.get(reverse(CHANGELIST), {"q": nothing}).context["cl"].result_list) == []


def test_it_lets_campaign_staff_moderate_but_not_erase_or_export(as_role, petition, zelda):
    staff = as_role("Campaign staff")
    listing = staff.get(reverse(CHANGELIST))
    actions = [name for name, _label in listing.context["action_form"].fields["action"].choices]
    assert actions == ["", "mark_fraudulent", "resend_confirmation"]
    assert "Export CSV" not in listing.content.decode()
    staff.post(reverse(CHANGELIST), {"action": "erase", "_selected_action": [zelda.pk]})
    zelda.refresh_from_db()
    assert (zelda.first_name, zelda.email, zelda.erased_at) == (FIRST, EMAIL, None)
    response = staff.post(
        reverse(CHANGELIST), {"action": "mark_fraudulent", "_selected_action": [zelda.pk]}
    )
    assert response.status_code == 302
    assert Signature.objects.get(pk=zelda.pk).status == Signature.Status.FRAUDULENT


# Data officers -----------------------------------------------------------------------------


def test_it_shows_data_officers_names_and_records_each_list_shown(
    as_role, petition, make_signature, zelda
):
    other = make_signature(petition)
    officer = as_role("Data officers")
    html = officer.get(reverse(CHANGELIST)).content.decode()
    assert f"{FIRST} {LAST}" in html
    # The checkbox's label (read out by screen readers) names the signature, not the signer.
    assert f'aria-label="Select this object for an action - Signature #{zelda.pk}"' in html
    record = PersonalDataAccess.objects.get()
    assert record.kind == PersonalDataAccess.Kind.LIST
    assert sorted(record.signature_ids) == sorted([zelda.pk, other.pk])
    assert record.user.username == record.username
    assert record.user.groups.get().name == "Data officers"


def test_it_records_each_signature_page_a_data_officer_opens(as_role, zelda):
    officer = as_role("Data officers")
    page = officer.get(reverse("admin:petitions_signature_change", args=[zelda.pk]))
    assert page.status_code == 200
    assert EMAIL in page.content.decode()
    record = PersonalDataAccess.objects.get()
    assert (record.kind, record.signature_ids) == ("detail", [zelda.pk])


@pytest.mark.parametrize(
    "term,finds",
    [(EMAIL, "zelda"), ("  Zelda.Q@Example.org ", "zelda"), ("zelda.q@example", None),
     ("nobody@example.org", None), ("Buecher@Bücher.example", "idn"),
     ("buecher@xn--bcher-kva.example", "idn"), ("buecher@bücher", None),
     ("Alt@Bücher.example", "legacy")],
)  # fmt: skip
def test_it_lets_data_officers_search_by_a_whole_address_and_records_whom_it_found(
    as_role, petition, make_signature, zelda, term, finds
):
    # Stored as the signing form stores it: lower-case, the domain in ASCII.
    idn = make_signature(petition, email="buecher@xn--bcher-kva.example")
    # As it stored addresses before: trimmed and lower-cased only.
    legacy = make_signature(petition, email="alt@bücher.example")
    officer = as_role("Data officers")
    response = officer.get(reverse(CHANGELIST), {"q": term})
    found = [s.pk for s in response.context["cl"].result_list]
    assert found == {"zelda": [zelda.pk], "idn": [idn.pk], "legacy": [legacy.pk], None: []}[finds]
    # Recorded even when nothing is found (that answers whether someone signed too), and
    # without the address searched for.
    record = PersonalDataAccess.objects.get()
    assert (record.kind, record.signature_ids) == ("search", found)
    assert "@" not in str(PersonalDataAccess.objects.values().get())


def test_it_lets_data_officers_search_names_never(as_role, zelda):
    officer = as_role("Data officers")
    for term in (FIRST, LAST, f"{FIRST} {LAST}", "zelda"):
        assert list(officer.get(reverse(CHANGELIST), {"q": term}).context["cl"].result_list) == []


def test_it_lets_data_officers_erase_and_says_so_without_names(as_role, zelda):
    officer = as_role("Data officers")
    response = officer.post(
        reverse(CHANGELIST), {"action": "erase", "_selected_action": [zelda.pk]}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == ["1 signature erased."]
    zelda.refresh_from_db()
    assert (zelda.first_name, zelda.last_name, zelda.email) == ("", "", None)


# The admin's log and the access records ----------------------------------------------------


def test_it_names_signatures_by_number_in_the_admins_log(
    as_role, superuser_client, zelda, django_user_model
):
    request = RequestFactory().get("/")
    request.user = django_user_model.objects.get(username="admin")
    admin = site._registry[Signature]
    admin.log_change(request, zelda, [{"changed": {"fields": ["status"]}}])
    admin.log_deletions(request, Signature.objects.filter(pk=zelda.pk))
    assert set(LogEntry.objects.values_list("object_repr", flat=True)) == {f"Signature #{zelda.pk}"}
    recent = as_role("Campaign staff").get(reverse("admin:index"))
    assert_no_personal_data(recent)
    assert_no_personal_data(superuser_client.get(reverse("admin:index")))


def test_it_shows_the_access_records_to_superusers_only_and_lets_nobody_change_them(
    as_role, superuser_client, zelda, django_user_model
):
    officer = as_role("Data officers")
    officer.get(reverse("admin:petitions_signature_change", args=[zelda.pk]))
    record = PersonalDataAccess.objects.get()
    listing = reverse("admin:petitions_personaldataaccess_changelist")
    detail = reverse("admin:petitions_personaldataaccess_change", args=[record.pk])
    assert superuser_client.get(listing).status_code == 200
    assert superuser_client.get(detail).status_code == 200
    assert officer.get(listing).status_code == 403
    assert superuser_client.post(detail, {"kind": "list"}).status_code == 403
    delete = reverse("admin:petitions_personaldataaccess_delete", args=[record.pk])
    assert superuser_client.post(delete, {"post": "yes"}).status_code == 403
    assert (
        superuser_client.get(reverse("admin:petitions_personaldataaccess_add")).status_code == 403
    )
    # The record outlives the account, and still says whose it was.
    username = record.username
    django_user_model.objects.filter(pk=record.user_id).delete()
    record.refresh_from_db()
    assert (record.user, record.username) == (None, username)


def test_it_allows_only_the_kinds_of_look_it_knows(db):
    with pytest.raises(ValidationError):
        PersonalDataAccess(kind="peek", username="x").full_clean()


# The list's URL ----------------------------------------------------------------------------

UNDECLARED = [
    {"email__startswith": "z"},
    {"email": EMAIL},
    {"email__regex": "^z"},
    {"first_name__icontains": "zel"},
    {"last_name": LAST},
    {"petition__signatures__email__contains": "zelda"},
    {"petition__title__icontains": "protect"},
    {"status": "confirmed"},  # the filter's own is status__exact
    {"country": "KZ"},
    {"hide_name": "0"},
    {"id__in": "1,2,3"},
    {"erased_at__isnull": "True"},
    {"created_at__gte": "2000-01-01"},  # the date hierarchy takes year, month and day
    {"confirmed_at__year": "2026"},
    {"source_story__startswith": "a"},
]
ROLES = ["Campaign staff", "Data officers", "superuser"]


@pytest.mark.parametrize("role", ROLES)
def test_it_refuses_list_urls_with_undeclared_filters(as_role, zelda, role):
    client = as_role(role)
    for params in UNDECLARED:
        response = client.get(reverse(CHANGELIST), params)
        assert response.status_code == 400, params
        assert_no_personal_data(response)
        assert "zelda.q" not in response.content.decode()
    assert PersonalDataAccess.objects.count() == 0


@pytest.mark.parametrize("role", ROLES)
def test_it_still_takes_the_declared_filters_ordering_and_pages(
    as_role, petition, make_petition, zelda, role
):
    make_petition()  # two petitions: the petition filter is shown
    client = as_role(role)
    year = zelda.created_at.year
    declared = [
        {"status__exact": "confirmed"},
        {"country__exact": "KZ"},
        {"updates": "yes"},
        {"hide_name__exact": "0"},
        {"petition__id__exact": str(petition.pk)},
        {
            "confirmed_at__gte": "2000-01-01 00:00:00+00:00",
            "confirmed_at__lt": "2100-01-01 00:00:00+00:00",
        },
        {"created_at__year": str(year)},
        {"created_at__year": str(year), "created_at__month": str(zelda.created_at.month)},
        {"o": "2.-1"},
        {"q": str(zelda.pk)},
        {"all": ""},
        {"_facets": "1"},
    ]
    for params in declared:
        response = client.get(reverse(CHANGELIST), params)
        assert response.status_code == 200, params
        assert [s.pk for s in response.context["cl"].result_list] == [zelda.pk], params
    wrong = client.get(reverse(CHANGELIST), {"petition__id__exact": "x", "country__exact": "KZ"})
    assert wrong.status_code == 302
    assert wrong["Location"].endswith("?e=1")


def test_it_refuses_undeclared_filters_on_the_petition_list_too(as_role, petition):
    editor = as_role("Editors")
    url = reverse("admin:petitions_petition_changelist")
    assert editor.get(url, {"is_published__exact": "1"}).status_code == 200
    for params in ({"slug__startswith": "p"}, {"signatures__email": EMAIL}, {"goal__gt": "1"}):
        assert editor.get(url, params).status_code == 400, params
    assert Petition.objects.count() == 1


def test_it_asks_the_list_only_about_the_filters_it_declares():
    request = RequestFactory().get("/")
    admin = site._registry[Signature]
    for lookup in ("status__exact", "country__exact", "updates", "created_at__year"):
        assert admin.lookup_allowed(lookup, "x", request), lookup
    for lookup in ("email__startswith", "first_name", "status", "id__in", "updates__gt"):
        assert not admin.lookup_allowed(lookup, "x", request), lookup

"""A partner's staff: which partners' figures an account may see, and whose consenting signers
it may export (partners.access), and who grants it (superusers, on the partner's admin page)."""

import itertools

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from partners.access import may_export, may_see_figures, partners_for
from partners.models import Partner, PartnerStaff

pytestmark = pytest.mark.django_db

_users = itertools.count(1)


@pytest.fixture
def make_user(django_user_model):
    def make(*, group: str = "", partner: Partner | None = None, officer: bool = False, **fields):
        fields.setdefault("is_staff", True)
        user = django_user_model.objects.create_user(f"user{next(_users)}", **fields)
        if group:
            user.groups.add(Group.objects.get(name=group))
        if partner is not None:
            PartnerStaff.objects.create(user=user, partner=partner, is_data_officer=officer)
        return user

    return make


def test_a_partners_staff_see_their_own_partner_only(make_user, zmina, dignity):
    user = make_user(partner=zmina)
    assert list(partners_for(user)) == [zmina]
    assert may_see_figures(user, zmina)
    assert not may_see_figures(user, dignity)


def test_staff_of_two_partners_see_both_and_no_other(make_user, zmina, dignity):
    user = make_user(partner=zmina)
    PartnerStaff.objects.create(user=user, partner=dignity)
    Partner.objects.create(name="Memorial", slug="memorial", country="RU")
    assert set(partners_for(user)) == {zmina, dignity}


@pytest.mark.parametrize("group", ["Campaign staff", "Data officers"])
def test_campaign_staff_who_see_signatures_see_every_partner(make_user, zmina, dignity, group):
    user = make_user(group=group)
    assert set(partners_for(user)) == {zmina, dignity}


def test_superusers_see_every_partner_and_may_export_any(make_user, zmina, dignity):
    user = make_user(is_superuser=True)
    assert set(partners_for(user)) == {zmina, dignity}
    assert may_export(user, zmina) and may_export(user, dignity)


def test_editors_and_other_staff_see_no_partner(make_user, zmina):
    assert not partners_for(make_user(group="Editors")).exists()
    assert not partners_for(make_user()).exists()
    assert not may_see_figures(make_user(group="Editors"), zmina)


def test_a_partner_role_needs_an_active_staff_account(make_user, zmina):
    assert not partners_for(make_user(partner=zmina, officer=True, is_staff=False)).exists()
    inactive = make_user(partner=zmina, officer=True, is_active=False)
    assert not partners_for(inactive).exists()
    assert not may_export(inactive, zmina)


def test_only_the_partners_data_officer_may_export_its_signers(make_user, zmina, dignity):
    officer = make_user(partner=zmina, officer=True)
    assert may_export(officer, zmina)
    assert not may_export(officer, dignity)  # another partner's: not even its figures
    assert not may_export(make_user(partner=zmina), zmina)  # staff, not its data officer


def test_a_data_officer_of_one_partner_is_not_one_of_the_others(make_user, zmina, dignity):
    user = make_user(partner=zmina, officer=True)
    PartnerStaff.objects.create(user=user, partner=dignity, is_data_officer=False)
    assert may_export(user, zmina)
    assert not may_export(user, dignity)


def test_the_campaigns_data_officers_may_export_any_partners_signers(make_user, zmina):
    assert may_export(make_user(group="Data officers"), zmina)
    # Campaign staff see the figures, but no signer's name or address.
    campaign_staff = make_user(group="Campaign staff")
    assert may_see_figures(campaign_staff, zmina)
    assert not may_export(campaign_staff, zmina)


def test_an_account_is_a_partners_staff_member_once(make_user, zmina):
    user = make_user(partner=zmina)
    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerStaff.objects.create(user=user, partner=zmina, is_data_officer=True)


# Who grants it ------------------------------------------------------------------------------


def signed_in(sign_in_staff, user) -> Client:
    return sign_in_staff(user, on=Client())


def test_superusers_grant_partner_roles(sign_in_staff, make_user, zmina):
    staff_member = make_user()
    make_user(is_staff=False)  # cannot sign in to the admin: not offered
    client = signed_in(sign_in_staff, make_user(is_superuser=True))
    add = reverse("admin:partners_partnerstaff_add")
    offered = client.get(add).context["adminform"].form.fields["user"].queryset
    assert staff_member in offered and all(user.is_staff for user in offered)
    response = client.post(
        add, {"user": staff_member.pk, "partner": zmina.pk, "is_data_officer": "on"}
    )
    assert response.status_code == 302
    role = PartnerStaff.objects.get()
    assert (role.user, role.partner, role.is_data_officer) == (staff_member, zmina, True)


@pytest.mark.parametrize("group", ["Editors", "Data officers"])
def test_other_staff_neither_see_nor_grant_partner_roles(sign_in_staff, make_user, zmina, group):
    PartnerStaff.objects.create(user=make_user(), partner=zmina, is_data_officer=True)
    client = signed_in(sign_in_staff, make_user(group=group))
    assert client.get(reverse("admin:partners_partnerstaff_changelist")).status_code == 403
    assert client.get(reverse("admin:partners_partnerstaff_add")).status_code == 403
    assert "partnerstaff" not in client.get(reverse("admin:index")).content.decode()

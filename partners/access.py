"""Which partner's figures and consenting signers a staff account may see: the one place that
decides it. The partner figures pages and the admin's index ask here.

Campaign staff who may see signatures (the roles of petitions.access) see every partner's
figures; a partner's own staff (PartnerStaff) see their partner's only, and its consenting
signers' personal data only as that partner's data officer. Everyone else sees none.

The petitions app's permissions are named by string: petitions imports partners, never the
reverse. petitions/tests/test_partner_dashboard.py proves they mean what petitions.access means.
"""

from django.db.models import QuerySet

from partners.models import Partner

# petitions.access.SIGNATURES_PERMISSION: signatures without names, and what is counted from them.
SIGNATURES_PERMISSION = "petitions.view_signature"
# petitions.access.can_export: both, to take signers' names and addresses out of the site.
EXPORT_PERMISSIONS = ("petitions.export_signatures", "petitions.view_personal_data")


def _is_active_staff(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def partners_for(user) -> QuerySet[Partner]:
    """The partners whose figures this account may see."""
    if not _is_active_staff(user):
        return Partner.objects.none()
    if user.has_perm(SIGNATURES_PERMISSION):
        return Partner.objects.all()
    return Partner.objects.filter(staff__user=user)


def may_see_figures(user, partner: Partner) -> bool:
    return partners_for(user).filter(pk=partner.pk).exists()


def may_export(user, partner: Partner) -> bool:
    """The signers who agreed to hear from this partner, with their names and addresses: for
    the campaign's data officers, and for this partner's own data officer."""
    if not may_see_figures(user, partner):
        return False
    if user.has_perms(EXPORT_PERMISSIONS):
        return True
    return partner.staff.filter(user=user, is_data_officer=True).exists()

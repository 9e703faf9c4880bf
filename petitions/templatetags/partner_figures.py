from django import template
from django.db.models import QuerySet

from partners.access import partners_for
from partners.models import Partner

register = template.Library()


@register.simple_tag(takes_context=True)
def figures_partners(context) -> QuerySet[Partner]:
    """The partners whose figures the signed-in account may see, for the admin's index."""
    request = context.get("request")
    if request is None:
        return Partner.objects.none()
    return partners_for(request.user)

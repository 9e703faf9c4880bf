from urllib.parse import urlencode

from django import template

from petitions.forms import link_params
from petitions.models import Petition

register = template.Library()


@register.inclusion_tag("includes/_petition_cta.html", takes_context=True)
def petition_cta(context, source: str) -> dict:
    """The count and a way to sign the featured petition, for the home and story pages. A
    partner's or campaign's link parameters (?via=, utm_*) on the page go on to the petition."""
    petition = Petition.objects.featured()
    query = {"from": source}
    request = context.get("request")
    if request is not None:
        query |= link_params(request.GET)
    return {"petition": petition, "source": source, "query": urlencode(query)}

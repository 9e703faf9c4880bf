from django import template

from petitions.models import Petition

register = template.Library()


@register.inclusion_tag("includes/_petition_cta.html")
def petition_cta(source: str) -> dict:
    """The count and a way to sign the featured petition, for the home and story pages."""
    petition = Petition.objects.featured()
    return {"petition": petition, "source": source}

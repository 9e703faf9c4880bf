"""What a partner organisation copies to bring its supporters to the petition: its link, the
widget and the count badge."""

from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import override

from partners.models import Partner
from petitions.models import Petition


def _absolute(viewname: str, petition: Petition, partner: Partner | None, language: str) -> str:
    query = {"via": partner.slug} if partner else {}
    with override(language or settings.LANGUAGE_CODE):
        path = reverse(viewname, kwargs={"slug": petition.slug})
    return settings.SITE_URL + path + ("?" + urlencode(query) if query else "")


def referral_url(petition: Petition, partner: Partner | None = None, language: str = "") -> str:
    """The petition's full address, crediting the partner."""
    return _absolute("petitions:detail", petition, partner, language)


def widget_url(petition: Petition, partner: Partner | None = None, language: str = "") -> str:
    """The widget's full address, crediting the partner, in the language given (the site's
    default when none)."""
    return _absolute("petitions:widget", petition, partner, language)


def widget_snippet(petition: Petition, partner: Partner | None = None, language: str = "") -> str:
    """The HTML to paste: the framed widget, growing with its height message."""
    site = urlsplit(settings.SITE_URL)
    return render_to_string(
        "petitions/widget/snippet.html",
        {
            "widget_url": widget_url(petition, partner, language),
            "title": petition.title,
            "site_origin": f"{site.scheme}://{site.netloc}",
        },
    )


def badge_snippet(petition: Petition, partner: Partner | None = None, language: str = "") -> str:
    """The HTML to paste where no frame or script can go: the count badge, linking to the
    petition with the partner's credit."""
    return render_to_string(
        "petitions/widget/badge_snippet.html",
        {
            "petition_url": referral_url(petition, partner, language),
            "badge_url": _absolute("petitions:badge", petition, None, language),
        },
    )

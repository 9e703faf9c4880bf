"""Protection against cross-site form posts that needs no cookie.

Django's CSRF protection pairs a token in the form with the same token in a cookie. A page
framed on another site gets no cookie of ours in most browsers (third-party cookies are blocked
by default for many people, and SameSite=Lax cookies are never sent in a cross-site frame), so
a form in such a page cannot use it. What browsers send with every form post is who is posting:
`Sec-Fetch-Site` (all current browsers, on HTTPS and loopback) and `Origin` (every browser for
a POST). A form posted from a page of this site says "same-origin" and names this origin; a
forged one, posted from another site's page, says "cross-site" and names that site; neither
header can be set by a page's script or markup. This is the check OWASP calls "verifying the
origin with standard headers" and "Fetch Metadata". A post that carries neither header is
checked by its Referer (the site's Referrer-Policy is same-origin, so the site's own pages send
it); one that carries none of the three is refused.

A view that must accept posts from a framed page is marked csrf_exempt and calls
is_same_origin_post first, answering False with a page of its own (petitions.views.widget_sign).
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest

# What Sec-Fetch-Site says of a form posted by one of this site's pages. ("none" is a request
# the person started themselves, from the address bar or a bookmark: never a form post.)
_SAME_ORIGIN = "same-origin"


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def own_origins(request: HttpRequest) -> set[str]:
    """This site's origin as the browser sees it, and those settings.CSRF_TRUSTED_ORIGINS adds
    (a site served under several names, or behind a proxy that changes the host)."""
    return {
        f"{request.scheme}://{request.get_host()}".lower(),
        *(origin.lower() for origin in settings.CSRF_TRUSTED_ORIGINS if "*" not in origin),
    }


def is_same_origin_post(request: HttpRequest) -> bool:
    """Whether the browser says that this request comes from a page of this site."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site == _SAME_ORIGIN
    origin = request.headers.get("Origin")
    if origin is not None:
        # "null" is an opaque origin (a sandboxed frame, a file, a redirect across sites).
        return origin.lower() in own_origins(request)
    referer = request.headers.get("Referer")
    if referer is not None:
        return _origin_of(referer) in own_origins(request)
    return False

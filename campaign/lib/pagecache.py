"""A short-lived, per-process cache of the pages a first-time visitor sees.

On a campaign's busiest day most requests are readers opening the home page, a story or the
petition with no session. Those pages are the same for everyone for a few seconds (the count
on them may be that old), so each gunicorn worker keeps the rendered response and serves it
again without running the rest of the stack. It sits right after WhiteNoise: the security
headers are still added on the way out.

Pages with a form differ per visitor only in a few values, such as the CSRF token. Their views
render those as slots (placeholder strings) and declare how to fill each one with
@public_page(slots={CSRF_SLOT: get_token, ...}); each visitor's copy has the slots filled, and
Django's own CSRF middleware sets the cookie that goes with the token.

Only views marked with @public_page are cached, only 200 responses that set no other cookie,
and only for GET and HEAD requests carrying no session or messages cookie (staff, previews and
flashes always get a fresh page). PAGE_CACHE_SECONDS=0 switches it off.
"""

import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import ResolverMatch

from campaign.lib import compression
from campaign.lib.outage import DATABASE_UNAVAILABLE

MAX_ENTRIES = 512
CSRF_SLOT = "__csrf_token_slot__"

# Slot placeholder -> what to put there for this request.
Slots = dict[str, Callable[[HttpRequest], str]]


class TimedCache:
    """A small per-process store whose entries expire after `seconds` (PAGE_CACHE_SECONDS when
    not given; 0 keeps nothing). clear_all() empties every one (tests, between cases)."""

    instances: "weakref.WeakSet[TimedCache]" = weakref.WeakSet()

    def __init__(self, seconds: int | None = None) -> None:
        self.seconds = seconds
        self.entries: OrderedDict = OrderedDict()
        TimedCache.instances.add(self)

    @property
    def lifetime(self) -> int:
        return settings.PAGE_CACHE_SECONDS if self.seconds is None else self.seconds

    @classmethod
    def clear_all(cls) -> None:
        for instance in list(cls.instances):
            instance.entries.clear()

    def get(self, key):
        if not self.lifetime:
            return None
        entry = self.entries.get(key)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        return None

    def set(self, key, value) -> None:
        seconds = self.lifetime
        if not seconds:
            return
        self.entries[key] = (time.monotonic() + seconds, value)
        self.entries.move_to_end(key)
        while len(self.entries) > MAX_ENTRIES:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()

    def stale(self, key):
        """The value last kept for key even if it has expired (None if there is none, or it
        was cleared or pushed out): for a reader that would rather have a value a little old
        than none."""
        entry = self.entries.get(key)
        return entry[1] if entry else None

    def read(self, key, read: Callable[[], object]):
        """The entry, or read()'s value, kept. While the database does not answer (read raises
        one of DATABASE_UNAVAILABLE), the value last kept, however old, if there is one: the
        pages and signing that can do without the database for a while go on
        (petitions.spool)."""
        value = self.get(key)
        if value is not None:
            return value
        try:
            value = read()
        except DATABASE_UNAVAILABLE:
            value = self.stale(key)
            if value is None:
                raise
            return value
        self.set(key, value)
        return value


def has_session(request: HttpRequest) -> bool:
    """Staff, previews and flash messages need a page of their own."""
    cookies = request.COOKIES
    return settings.SESSION_COOKIE_NAME in cookies or "messages" in cookies


def fill_slots(html: str, slots: Slots, request: HttpRequest) -> str:
    for slot, fill in slots.items():
        html = html.replace(slot, fill(request))
    return html


def public_page(view=None, *, slots: Slots | None = None):
    """Mark a view's successful responses as the same for every visitor without a session.

    With slots, the view returns its page with those placeholders unfilled; they are filled
    here for this request, and the slotted page is what gets cached.
    """

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            response = view(request, *args, **kwargs)
            response.public_page = True
            if slots:
                response.slotted = (response.content.decode(), slots)
                response.content = fill_slots(response.slotted[0], slots, request)
            return response

        return wrapper

    return decorate(view) if view else decorate


@dataclass(frozen=True)
class Page:
    status: int
    headers: list[tuple[str, str]]
    content: str | bytes
    slots: Slots | None
    # A page without slots is the same for everyone, so it is compressed once, when kept,
    # instead of for each visitor (bench/COMPRESSION.md); a page with slots is compressed as
    # sent, by campaign.lib.compression's middleware above this one.
    gzipped: bytes | None = None
    # How the URL resolved when the page was kept: set again on each request served from the
    # cache, which never reaches the resolver, for what reads it on the way out (the request
    # metrics' view label) without resolving the path again.
    resolver_match: ResolverMatch | None = None


class PublicPageCacheMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.pages = TimedCache()
        # Django's CSRF middleware, used only to set the cookie for a filled-in cached form.
        # Relies on how it works inside, which Django does not document: process_request reads
        # the visitor's cookie into request.META, get_token (a slot) marks it to be sent, and
        # process_response sets it. test_pagecache.py signs through a cached page to prove it.
        self.csrf = CsrfViewMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            not settings.PAGE_CACHE_SECONDS
            or request.method not in ("GET", "HEAD")
            or has_session(request)
        ):
            return self.get_response(request)
        key = (request.get_full_path(), self._country(request))
        page = self.pages.get(key)
        if page is not None:
            return self._serve(page, request)
        response = self.get_response(request)
        if self._cacheable(response):
            self.pages.set(key, self._keep(response, request))
        return response

    @staticmethod
    def _country(request: HttpRequest) -> str:
        header = settings.COUNTRY_HEADER
        return request.META.get("HTTP_" + header.upper().replace("-", "_"), "") if header else ""

    @staticmethod
    def _cacheable(response: HttpResponse) -> bool:
        cookies = set(response.cookies) - {settings.CSRF_COOKIE_NAME}
        return (
            getattr(response, "public_page", False)
            and response.status_code == 200
            and not response.streaming
            and not cookies
            and (hasattr(response, "slotted") or not response.cookies)
        )

    @staticmethod
    def _keep(response: HttpResponse, request: HttpRequest) -> Page:
        content, slots = getattr(response, "slotted", (response.content, None))
        gzipped = None
        if slots is None and compression.is_textual(response):
            gzipped = compression.gzip_body(content)
        return Page(
            status=response.status_code,
            # The length is set again for each copy: a filled-in page differs from the first.
            headers=[(k, v) for k, v in response.items() if k.lower() != "content-length"],
            content=content,
            slots=slots,
            gzipped=gzipped if gzipped and len(gzipped) < len(content) else None,
            resolver_match=getattr(request, "resolver_match", None),
        )

    def _serve(self, page: Page, request: HttpRequest) -> HttpResponse:
        gzipped = page.gzipped is not None and compression.accepts_gzip(request)
        request.resolver_match = page.resolver_match
        if page.slots:
            self.csrf.process_request(request)
            response = HttpResponse(
                fill_slots(page.content, page.slots, request), status=page.status
            )
        else:
            response = HttpResponse(page.gzipped if gzipped else page.content, status=page.status)
        for header, value in page.headers:
            response[header] = value
        if gzipped:
            compression.mark_gzipped(response)
        response["Content-Length"] = str(len(response.content))
        if page.slots:
            response = self.csrf.process_response(request, response)
        if request.method == "HEAD":
            response.content = b""
        return response


class SlottedPages:
    """Pages with slots kept per process under a key the view chooses, rather than the address:
    for a page whose address differs per visitor (an emailed link's token in its query) while
    its content differs only in values that slots can fill (the token itself, the CSRF token).
    The view renders it with the slots' placeholders once per key and PAGE_CACHE_SECONDS;
    each request gets a copy filled for it. The fill functions escape what they put in.

    Requests with a session (staff, previews, flashes) always get a page rendered for them."""

    def __init__(self) -> None:
        self.pages = TimedCache()

    def serve(
        self, request: HttpRequest, key, render: Callable[[], HttpResponse], slots: Slots
    ) -> HttpResponse:
        page = None if has_session(request) else self.pages.get(key)
        if page is not None:
            content, content_type = page
            return HttpResponse(fill_slots(content, slots, request), content_type=content_type)
        response = render()
        content = response.content.decode()
        if response.status_code == 200 and not response.cookies and not has_session(request):
            self.pages.set(key, (content, response["Content-Type"]))
        response.content = fill_slots(content, slots, request)
        return response

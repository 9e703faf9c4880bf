"""First-time visitors' pages served from each worker's memory for a few seconds."""

from collections.abc import Callable
from types import SimpleNamespace

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from campaign.lib import pagecache
from campaign.lib.pagecache import PublicPageCacheMiddleware, public_page
from petitions.models import Petition, Signature

pytestmark = pytest.mark.django_db

SECONDS = 60


@pytest.fixture
def page_cache(settings):
    settings.PAGE_CACHE_SECONDS = SECONDS


def cached_view(
    answer: Callable[[int], HttpResponse], **options
) -> tuple[PublicPageCacheMiddleware, list[str]]:
    """The page cache around a @public_page view that gives answer(n) to its n-th call, and
    the methods of the requests that reached the view."""
    calls: list[str] = []

    @public_page(**options)
    def view(request: HttpRequest) -> HttpResponse:
        calls.append(request.method)
        return answer(len(calls))

    return PublicPageCacheMiddleware(view), calls


def form_token(response) -> str:
    return response.content.decode().split('name="csrfmiddlewaretoken" value="')[1][:64]


def test_it_serves_a_public_page_again_without_running_the_view(
    client, page_cache, make_story, django_assert_num_queries
):
    story = make_story()
    first = client.get(story.get_absolute_url())
    with django_assert_num_queries(0):
        second = client.get(story.get_absolute_url())
    assert second.status_code == 200
    assert second.content == first.content
    assert second["Content-Security-Policy"] == first["Content-Security-Policy"]
    assert second["Content-Language"] == "en"
    assert int(second["Content-Length"]) == len(second.content)


def test_it_gives_staff_and_people_with_a_session_a_fresh_page(
    staff_client, page_cache, make_story, django_assert_max_num_queries
):
    story = make_story()
    staff_client.get(story.get_absolute_url())
    with django_assert_max_num_queries(10) as queries:
        staff_client.get(story.get_absolute_url())
    assert len(queries) > 0


def test_it_never_keeps_errors_or_posts(
    client, page_cache, make_story, django_assert_max_num_queries
):
    client.get("/no-such-page/")
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    hidden = make_story(is_published=False)
    client.get(hidden.get_absolute_url())
    with django_assert_max_num_queries(10) as queries:
        assert client.get(hidden.get_absolute_url()).status_code == 404
    assert len(queries) > 0  # the view ran again
    assert client.get(reverse("stories:home")).status_code == 200  # kept...
    assert client.post(reverse("stories:home")).status_code == 405  # ...but not for a POST


@pytest.mark.parametrize("status", [404, 503])
def test_it_runs_the_view_again_after_an_error(rf, page_cache, status):
    """A page that failed once (a lost database, say) is asked for again, and the good page
    that comes then is the one kept."""
    middleware, calls = cached_view(
        lambda n: HttpResponse(f"Answer {n}", status=status if n == 1 else 200)
    )
    assert middleware(rf.get("/page/")).status_code == status
    assert middleware(rf.get("/page/")).content == b"Answer 2"
    assert middleware(rf.get("/page/")).content == b"Answer 2"
    assert len(calls) == 2


def test_it_runs_the_view_for_every_post(rf, page_cache):
    middleware, calls = cached_view(lambda n: HttpResponse(f"Answer {n}"))
    assert middleware(rf.post("/page/")).content == b"Answer 1"
    assert middleware(rf.post("/page/")).content == b"Answer 2"
    assert middleware(rf.get("/page/")).content == b"Answer 3"
    assert calls == ["POST", "POST", "GET"]


@pytest.mark.parametrize(
    "cookie,slots",
    [
        ("seen", {"__slot__": lambda request: "filled"}),
        # Only a page with slots gets its CSRF cookie set again when it is served from memory.
        ("csrf", None),
    ],
    ids=["own-cookie", "csrf-cookie-without-slots"],
)
def test_it_never_keeps_a_page_that_sets_a_cookie(rf, settings, page_cache, cookie, slots):
    cookie = settings.CSRF_COOKIE_NAME if cookie == "csrf" else cookie

    def answer(n: int) -> HttpResponse:
        response = HttpResponse(f"Answer {n} __slot__")
        response.set_cookie(cookie, f"value {n}")
        return response

    middleware, calls = cached_view(answer, slots=slots)
    middleware(rf.get("/page/"))
    second = middleware(rf.get("/page/"))
    assert second.content.startswith(b"Answer 2")
    assert second.cookies[cookie].value == "value 2"
    assert len(calls) == 2


def test_it_keeps_the_petition_page_but_gives_each_visitor_a_fresh_token(
    client, page_cache, petition, django_assert_num_queries
):
    url = reverse("petitions:detail", kwargs={"slug": petition.slug})
    first = client.get(url)
    client.cookies.clear()  # another visitor (the cache is the client's: per worker)
    with django_assert_num_queries(0):
        second = client.get(url)
    assert second.templates == []  # not rendered again: served from the cache
    assert form_token(first) != form_token(second)
    assert "__csrf_token_slot__" not in second.content.decode()
    assert "__form_timestamp_slot__" not in second.content.decode()
    assert second.cookies["csrftoken"].value  # the cookie that goes with the token
    assert int(second["Content-Length"]) == len(second.content)
    assert '<h1 lang="en">Protect defenders</h1>' in second.content.decode()


def test_it_signs_through_a_page_served_from_the_cache(page_cache, petition, sign_data):
    """Also when the same page, served again, is open in a second tab: it goes with the CSRF
    cookie the visitor has, rather than replace it and break the form in the first tab."""
    url = reverse("petitions:detail", kwargs={"slug": petition.slug})
    browser = Client(enforce_csrf_checks=True)
    browser.get(url)  # fills the cache
    browser.cookies.clear()  # now a visitor who has never been here
    first_tab, second_tab = browser.get(url), browser.get(url)
    assert first_tab.templates == second_tab.templates == []  # served from the cache
    response = browser.post(
        reverse("petitions:sign", kwargs={"slug": petition.slug}),
        sign_data(csrfmiddlewaretoken=form_token(first_tab)),
    )
    assert response.status_code == 302
    assert Signature.objects.count() == 1


def test_it_stops_serving_an_unpublished_petition_once_the_cache_expires(
    client, page_cache, petition, monkeypatch
):
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(pagecache, "time", SimpleNamespace(monotonic=lambda: clock.now))
    url = reverse("petitions:detail", kwargs={"slug": petition.slug})
    assert client.get(url).status_code == 200
    Petition.objects.filter(pk=petition.pk).update(is_published=False)
    clock.now += SECONDS - 1
    kept = client.get(url)  # still kept, for the seconds promised
    assert (kept.status_code, kept.templates) == (200, [])
    clock.now += 1
    assert client.get(url).status_code == 404


def test_it_shows_the_signer_who_just_confirmed_a_count_that_includes_them(
    client, page_cache, petition, make_signature
):
    url = reverse("petitions:thanks", kwargs={"slug": petition.slug})
    assert "<strong>0</strong> signatures" in client.get(url).content.decode()
    make_signature(petition, confirmed=True)
    assert "<strong>1</strong> signature" in client.get(url).content.decode()


def slotted_answer(rf, pages: pagecache.SlottedPages, renders: list[int], **request) -> str:
    """The page `pages` serves for a request with ?t=<value>, rendering a page with a slot for
    the value when it must, counted in `renders`."""
    token_slot = "__value_slot__"

    def render() -> HttpResponse:
        renders.append(1)
        return HttpResponse(f"<p>{token_slot}</p>")

    slots = {token_slot: lambda request: escape(request.GET["t"])}
    response = pages.serve(rf.get("/link/", request), "key", render, slots)
    assert response.status_code == 200
    return response.content.decode()


def test_it_renders_a_slotted_page_once_per_key_and_fills_it_for_each_request(rf, page_cache):
    pages, renders = pagecache.SlottedPages(), []
    assert slotted_answer(rf, pages, renders, t="one") == "<p>one</p>"
    assert slotted_answer(rf, pages, renders, t="two<") == "<p>two&lt;</p>"
    assert len(renders) == 1


def test_it_renders_a_slotted_page_for_a_session_and_when_switched_off(rf, settings, page_cache):
    pages, renders = pagecache.SlottedPages(), []
    slotted_answer(rf, pages, renders, t="one")
    rf.cookies[settings.SESSION_COOKIE_NAME] = "staff"
    assert slotted_answer(rf, pages, renders, t="two") == "<p>two</p>"
    assert len(renders) == 2
    del rf.cookies[settings.SESSION_COOKIE_NAME]
    settings.PAGE_CACHE_SECONDS = 0
    slotted_answer(rf, pages, renders, t="three")
    slotted_answer(rf, pages, renders, t="four")
    assert len(renders) == 4

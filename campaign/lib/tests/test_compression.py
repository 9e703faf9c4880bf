"""Pages gzip-compressed for browsers that accept it, with the page cache and streamed files."""

import gzip
import itertools

import pytest
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse

from campaign.lib.compression import CompressionMiddleware

pytestmark = pytest.mark.django_db

GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}


def vary(response) -> set[str]:
    return {value.strip().lower() for value in response.get("Vary", "").split(",")}


def has_random_file_name(body: bytes) -> bool:
    """Heal The Breach: the gzip header's FNAME flag, set for the random bytes Django adds."""
    return body[:2] == b"\x1f\x8b" and bool(body[3] & gzip.FNAME)


@pytest.fixture
def page_cache(settings):
    settings.PAGE_CACHE_SECONDS = 60


@pytest.fixture
def pages(make_story, petition) -> list[str]:
    story = make_story()
    return [
        reverse("stories:home"),
        story.get_absolute_url(),
        reverse("petitions:detail", kwargs={"slug": petition.slug}),
        reverse("petitions:widget", kwargs={"slug": petition.slug}),
    ]


def test_it_compresses_every_page_for_a_browser_that_accepts_gzip(client, pages):
    for url in pages:
        plain = client.get(url)
        compressed = client.get(url, **GZIP)
        assert compressed.status_code == 200, url
        assert compressed["Content-Encoding"] == "gzip", url
        assert has_random_file_name(compressed.content), url
        assert int(compressed["Content-Length"]) == len(compressed.content) < len(plain.content)
        assert "accept-encoding" in vary(compressed), url
        assert gzip.decompress(compressed.content).decode().rstrip().endswith("</html>"), url


def test_it_sends_pages_uncompressed_to_a_client_that_does_not_accept_gzip(client, pages):
    for url in pages:
        response = client.get(url, HTTP_ACCEPT_ENCODING="identity")
        assert not response.has_header("Content-Encoding"), url
        assert "accept-encoding" in vary(response), url
        assert response.content.decode().rstrip().endswith("</html>"), url


def test_it_serves_both_kinds_of_client_the_same_page_from_the_cache(
    client, page_cache, make_story, django_assert_num_queries
):
    url = make_story().get_absolute_url()
    first = client.get(url)
    with django_assert_num_queries(0):
        compressed = client.get(url, **GZIP)
        again = client.get(url, **GZIP)
        plain = client.get(url)
    assert compressed["Content-Encoding"] == "gzip"
    assert has_random_file_name(compressed.content)
    assert gzip.decompress(compressed.content) == plain.content == first.content
    assert compressed.content == again.content  # compressed once, when kept
    assert not plain.has_header("Content-Encoding")
    for response in (compressed, plain):
        assert "accept-encoding" in vary(response)
        assert int(response["Content-Length"]) == len(response.content)
        assert response["Content-Security-Policy"] == first["Content-Security-Policy"]


def test_it_compresses_each_cached_petition_page_with_its_own_token(
    client, page_cache, petition, django_assert_num_queries
):
    url = reverse("petitions:detail", kwargs={"slug": petition.slug})
    client.get(url)
    with django_assert_num_queries(0):
        pages = [client.get(url, **GZIP) for _ in range(2)]
    html = [gzip.decompress(page.content).decode() for page in pages]
    tokens = [page.split('name="csrfmiddlewaretoken" value="')[1][:64] for page in html]
    assert tokens[0] != tokens[1]  # masked afresh for each visitor, then compressed
    assert all(page["Content-Encoding"] == "gzip" for page in pages)
    assert all(has_random_file_name(page.content) for page in pages)


def test_it_answers_a_head_request_for_a_cached_page_with_no_body(client, page_cache, pages):
    client.get(pages[0])
    response = client.head(pages[0], **GZIP)
    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Encoding"] == "gzip"


def test_it_keeps_the_signature_export_streamed_while_compressing_it(
    client_in_group, petition, make_signature
):
    make_signature(petition, confirmed=True, country="NL")
    response = client_in_group("Data officers").get(
        reverse("admin:petitions_signature_export"), **GZIP
    )
    assert response.streaming
    assert response["Content-Encoding"] == "gzip"
    assert not response.has_header("Content-Length")
    body = gzip.decompress(b"".join(response.streaming_content)).decode("utf-8")
    assert body.startswith("\ufeff") and "NL" in body


def test_it_compresses_a_stream_a_chunk_at_a_time(rf):
    """Memory stays flat: the rows are read as the compressed stream is, never all at once."""
    produced = itertools.count()

    def rows():
        for n in range(10_000):
            next(produced)
            yield f"{n},row number {n}\n".encode()

    middleware = CompressionMiddleware(
        lambda request: StreamingHttpResponse(rows(), content_type="text/csv")
    )
    response = middleware(rf.get("/export.csv", **GZIP))
    stream = iter(response.streaming_content)
    first = next(stream)
    assert next(produced) <= 1  # nothing read ahead but the first chunk's rows
    rest = b"".join(stream)
    assert gzip.decompress(first + rest).decode().count("\n") == 10_000


@pytest.mark.parametrize(
    "content_type", ["image/png", "application/pdf", "application/zip", "font/woff2"]
)
def test_it_leaves_files_that_are_compressed_already_alone(rf, content_type):
    middleware = CompressionMiddleware(
        lambda request: HttpResponse(b"x" * 5000, content_type=content_type)
    )
    response = middleware(rf.get("/file", **GZIP))
    assert not response.has_header("Content-Encoding")
    assert not response.has_header("Vary")
    assert response.content == b"x" * 5000


@pytest.mark.parametrize(
    "content_type",
    ["image/svg+xml; charset=utf-8", "application/json", "text/csv", "application/rss+xml"],
)
def test_it_compresses_textual_responses(rf, content_type):
    middleware = CompressionMiddleware(
        lambda request: HttpResponse(b"x" * 5000, content_type=content_type)
    )
    response = middleware(rf.get("/file", **GZIP))
    assert response["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.content) == b"x" * 5000

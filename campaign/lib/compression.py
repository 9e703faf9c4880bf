"""Pages sent gzip-compressed to browsers that accept it, safely for pages with a secret.

BREACH-style attacks read a secret out of compressed HTTPS responses: an attacker who sees the
size of the encrypted responses, and makes the victim's browser ask for a page many times with
guesses that the page repeats (a query parameter, say), learns from which guess compresses
best what the secret next to it is. Three things stand in its way here:

- Django's GZipMiddleware applies "Heal The Breach": every compressed response carries 1 to 100
  random bytes (the gzip header's file-name field), so its size no longer tells one guess from
  the next without many times more requests.
- The one secret on a public page, the CSRF token, is masked afresh for every response (Django
  does so for BREACH): there is no fixed string for guesses to converge on.
- A page with anything personal on it is a staff page, behind a session cookie sent with
  SameSite=Lax: another site cannot make a staff member's browser fetch it with the session,
  let alone thousands of times, except by navigating the whole window to it.

So every page is compressed, the petition page with its token and the staff pages included.

Only textual responses are compressed: images, PDFs and ZIP files are compressed already (and a
streamed ZIP would otherwise cost CPU for nothing). Static files never get here: WhiteNoise,
above this middleware, serves them compressed ahead of time. Streamed responses (the CSV
exports, the hand-in's receipt list) stay streamed, compressed a chunk at a time.
"""

import gzip

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware, re_accepts_gzip
from django.utils.cache import patch_vary_headers
from django.utils.text import _get_random_filename

# How hard to compress. A page kept in the page cache is compressed once and sent many times:
# the best ratio gzip offers for its time (6, gzip's default). A page filled in for each visitor
# (the petition page, the widget) is compressed for every response, on the busiest page of the
# day: level 1 takes a fraction of the time for output about a tenth larger (bench/COMPRESSION.md).
CACHED_LEVEL = 6
PER_RESPONSE_LEVEL = 1

# Media types worth compressing besides text/*: JSON, JavaScript and XML (the SVG badge, the
# sitemap, the feed).
_TEXTUAL_SUFFIXES = ("/json", "+json", "/javascript", "/xml", "+xml")


def is_textual(response: HttpResponseBase) -> bool:
    media_type = response.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type.endswith(_TEXTUAL_SUFFIXES)


def accepts_gzip(request: HttpRequest) -> bool:
    return bool(re_accepts_gzip.search(request.META.get("HTTP_ACCEPT_ENCODING", "")))


def gzip_body(content: bytes, level: int = CACHED_LEVEL) -> bytes:
    """Content compressed as GZipMiddleware compresses it, with its random bytes (the gzip
    header's file-name field, as django.utils.text.compress_string sets it), at this level."""
    compressed = memoryview(gzip.compress(content, compresslevel=level, mtime=0))
    header = bytearray(compressed[:10])
    header[3] = gzip.FNAME
    filename = _get_random_filename(GZipMiddleware.max_random_bytes) + b"\x00"
    return bytes(header) + filename + compressed[10:]


def mark_gzipped(response: HttpResponseBase) -> HttpResponseBase:
    """The headers of a response whose body gzip_body made, as GZipMiddleware sets them."""
    patch_vary_headers(response, ("Accept-Encoding",))
    etag = response.get("ETag")
    if etag and etag.startswith('"'):
        response.headers["ETag"] = "W/" + etag
    response.headers["Content-Encoding"] = "gzip"
    return response


class CompressionMiddleware(GZipMiddleware):
    """Django's GZipMiddleware, for textual responses only, and quick (PER_RESPONSE_LEVEL) for
    a response made for one request; streamed responses as Django compresses them."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if not is_textual(response):
            return response
        if response.streaming:
            return super().process_response(request, response)
        if len(response.content) < 200 or response.has_header("Content-Encoding"):
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        if not accepts_gzip(request):
            return response
        compressed = gzip_body(response.content, PER_RESPONSE_LEVEL)
        if len(compressed) >= len(response.content):
            return response
        response.content = compressed
        response.headers["Content-Length"] = str(len(compressed))
        return mark_gzipped(response)

import datetime as dt
import io
import json
import logging
from types import SimpleNamespace

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import path
from gunicorn.config import Config
from hypothesis import given
from hypothesis import strategies as st

from campaign import urls as site_urls
from campaign.lib import logs

logger = logging.getLogger("campaign.tests.signing")


def boom(request):
    # A careless line: the full path, with the link's token and an address in its query.
    logger.warning("Could not sign from %s", request.get_full_path())
    raise RuntimeError(f"failed for {request.GET.get('email')}")


def fine(request):
    logger.info("Served")
    return HttpResponse("ok")


urlpatterns = [path("boom/", boom), path("fine/", fine), *site_urls.urlpatterns]
handler404 = site_urls.handler404
handler500 = site_urls.handler500

EMAIL = "ada.lovelace@example.org"
TOKEN = "Zm9vYmFyLXNlY3JldC10b2tlbg"


@pytest.fixture
def json_lines(settings):
    """Everything logged while the test runs, through the JSON formatter, as the site's
    handler writes it."""
    settings.ROOT_URLCONF = __name__
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [line for line in stream.getvalue().splitlines() if line]
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.django_db
def test_each_line_is_one_json_object_with_the_request_id(json_lines):
    response = Client().get("/fine/")
    lines = [json.loads(line) for line in json_lines()]
    served = next(line for line in lines if line["message"] == "Served")
    assert {"time", "level", "logger", "message", "request_id"} <= set(served)
    assert served["level"] == "INFO"
    assert served["logger"] == "campaign.tests.signing"
    assert served["request_id"] == response["X-Request-ID"]


@pytest.mark.django_db
def test_no_email_token_or_client_address_reaches_the_log(json_lines):
    client = Client(raise_request_exception=False, REMOTE_ADDR="203.0.113.77")
    response = client.get(f"/boom/?t={TOKEN}&email={EMAIL}")
    client.get(f"/no-such-page/?t={TOKEN}&email={EMAIL}")
    assert response.status_code == 500
    output = "\n".join(json_lines())
    assert "Could not sign from /boom/?[query]" in output
    assert "Internal Server Error: /boom/" in output  # Django's own line, with its traceback
    for secret in (EMAIL, TOKEN, "203.0.113.77"):
        assert secret not in output
    for line in json_lines():
        json.loads(line)


def test_it_blanks_addresses_and_query_strings_anywhere_in_a_line():
    line = logs.redact(f"to {EMAIL} via https://x.example/confirm/?t={TOKEN} done?")
    assert line == "to [email] via https://x.example/confirm/?[query] done?"


@given(st.text(alphabet="ab1.@?/=&\n -") | st.text())
def test_it_blanks_exactly_what_its_patterns_match_even_when_it_skips_them(text):
    """A line with no @ and no ? is written as it is, without running the patterns: that must
    never let through anything they would have blanked."""
    assert logs.redact(text) == logs._QUERY.sub(r"\1?[query]", logs._EMAIL.sub("[email]", text))


@pytest.mark.django_db
def test_it_keeps_the_id_a_trusted_proxy_sends(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="0123456789abcdef0123456789abcdef")
    assert response["X-Request-ID"] == "0123456789abcdef0123456789abcdef"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "proxies, sent",
    [(0, "0123456789abcdef0123456789abcdef"), (1, "a\nforged line"), (1, "short")],
)
def test_it_makes_its_own_id_otherwise(settings, proxies, sent):
    settings.TRUSTED_PROXY_COUNT = proxies
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=sent)
    assert response["X-Request-ID"] != sent
    assert len(response["X-Request-ID"]) == 32


def test_gunicorns_access_line_is_json_without_address_query_or_browser(tmp_path, monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    access = logs.GunicornLogger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/petitions/p/confirm/",
        "QUERY_STRING": f"t={TOKEN}&email={EMAIL}",
        "REMOTE_ADDR": "203.0.113.77",
        "HTTP_USER_AGENT": "Mozilla/5.0 (Signer's Browser)",
        "RAW_URI": f"/petitions/p/confirm/?t={TOKEN}",
    }
    response = SimpleNamespace(status="200 OK", headers=[("X-Request-ID", "abc123")], sent=512)
    access.access(response, None, environ, dt.timedelta(milliseconds=42))
    text = (tmp_path / "access.log").read_text()
    entry = json.loads(text)
    assert entry["message"] == "GET /petitions/p/confirm/ 200"
    assert entry["path"] == "/petitions/p/confirm/"
    assert entry["status"] == 200 and entry["bytes"] == 512 and entry["duration_ms"] == 42.0
    assert entry["request_id"] == "abc123"
    for secret in (TOKEN, EMAIL, "203.0.113.77", "Mozilla"):
        assert secret not in text


@pytest.mark.parametrize(
    "setting, debug, expected",
    [
        ("", "False", "json"),
        ("", "True", "plain"),
        ("json", "True", "json"),
        ("plain", "", "plain"),
    ],
)
def test_logs_are_json_unless_debug_or_told_otherwise(setting, debug, expected):
    assert logs.log_format_for(setting, debug) == expected

"""deploy/check.py's reading of deploy/nginx/campaign.conf: the config `make deploy-check` runs
must be the committed file with only the operator's values replaced. (The proxy's behaviour
itself is checked by `make deploy-check`, over HTTPS.)"""

import importlib.util
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from stories import validators

spec = importlib.util.spec_from_file_location(
    "deploy_check", settings.BASE_DIR / "deploy" / "check.py"
)
deploy_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(deploy_check)

CONFIG = deploy_check.CONFIG.read_text()
PORTS = {"http_port": 40080, "https_port": 40443, "upstream_port": 40800}


REPLACEMENTS = deploy_check.replacements(tmp=Path("/tmp/deploy-check-test"), **PORTS)


def rendered() -> str:
    return deploy_check.render(CONFIG, REPLACEMENTS)


def test_it_replaces_every_operator_value_in_the_committed_config():
    text = rendered()
    assert "listen 127.0.0.1:40080;" in text
    assert "listen 127.0.0.1:40443 ssl http2;" in text
    assert "server 127.0.0.1:40800;" in text
    assert "alias /tmp/deploy-check-test/media/;" in text
    for operators in ("letsencrypt", "/var/", ":8000;", "listen 80;", "listen 443", "[::]"):
        assert operators not in text
    # Nothing else changes: each value replaced is on one line or two (a pair of listens or
    # logs), and every other line is the committed file's.
    for value in REPLACEMENTS:
        assert 1 <= sum(value in line for line in CONFIG.splitlines()) <= 2
    lines = zip(CONFIG.splitlines(), text.splitlines(), strict=True)
    kept = [(old, new) for old, new in lines if not any(value in old for value in REPLACEMENTS)]
    assert all(old == new for old, new in kept)


def test_it_stops_when_the_config_no_longer_has_a_value_it_replaces():
    with pytest.raises(ValueError, match="server 127.0.0.1:8000;"):
        deploy_check.render(
            CONFIG.replace("server 127.0.0.1:8000;", "server unix:/run/gunicorn.sock;"),
            REPLACEMENTS,
        )


def test_the_body_limit_lets_the_largest_portrait_through_with_its_story():
    """A story's form may carry as many bytes of fields as Django takes beside the portrait:
    any portrait too large to fit under the proxy's limit with them is one the site refuses."""
    room = deploy_check.body_limit(CONFIG) - settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    too_large = SimpleUploadedFile("portrait.jpg", b"")
    too_large.size = room + 1
    with pytest.raises(ValidationError) as refused:
        validators.validate_portrait_file(too_large)
    assert refused.value.code == "file_too_large"
    with pytest.raises(ValueError):
        deploy_check.body_limit(CONFIG.replace("client_max_body_size", "# client_max_body_size"))


def test_the_access_log_format_names_no_client_and_no_query_string():
    [log_format] = re.findall(r"log_format campaign_private (.*?);", CONFIG, re.DOTALL)
    assert "$uri" in log_format
    for variable in ("$remote_addr", "$request ", "$request_uri", "$args", "$query_string",
                     "$http_referer", "$http_x_forwarded_for", "$http_user_agent"):  # fmt: skip
        assert variable not in log_format + " "
    for access_log in re.findall(r"^\s*access_log .*$", CONFIG, re.MULTILINE):
        assert access_log.split("#")[0].rstrip().endswith(" campaign_private;")

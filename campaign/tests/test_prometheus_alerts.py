"""deploy/prometheus/alerts.yml: valid rules, on figures the metrics endpoint reports, and the
same rules the README shows."""

import ipaddress
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

ALERTS = Path(settings.BASE_DIR) / "deploy" / "prometheus" / "alerts.yml"


def rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_it_has_the_three_alerts_of_a_campaign_day():
    assert [rule["alert"] for rule in rules()] == [
        "ConfirmationEmailsWaiting",
        "ServerErrors",
        "DatabaseDown",
    ]
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        assert rule["annotations"]["summary"]


@pytest.mark.django_db
def test_its_rules_read_figures_the_endpoint_reports(client, settings, make_petition):
    make_petition()
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.7")]
    client.get("/")
    text = client.get("/metrics", REMOTE_ADDR="10.0.0.7").text
    reported = {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }
    for rule in rules():
        for name in re.findall(r"\bcampaign_\w+", rule["expr"]):
            assert name in reported, (rule["alert"], name)
    assert 'status="5xx"' in rules()[1]["expr"]
    assert any('status="2xx"' in line for line in text.splitlines())


def test_the_readme_shows_these_rules():
    readme = (Path(settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")
    assert ALERTS.read_text(encoding="utf-8").strip() in readme

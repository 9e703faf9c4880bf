"""Reading a scrape of /metrics back, as Prometheus would: for the metrics' tests."""

from prometheus_client.parser import text_string_to_metric_families


def families(response) -> dict:
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(found: dict, name: str, **labels) -> float:
    """A sample's value, by its name ("campaign_signings_total") and labels."""
    return next(
        sample.value
        for family in found.values()
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )

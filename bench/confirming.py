"""What one confirmation costs in a worker: the link's page (GET) and its button (POST).

    DATABASE_URL=postgres://root@127.0.0.1:5432/test .venv/bin/python bench/confirming.py

It creates a scratch database (`<name>_bench_confirming`) beside the one DATABASE_URL names,
migrates it, loads the campaign's content, signs --links signatures through sign_petition
(spread over a few countries, partners and pages, as the bench's signers are), then confirms
each through Django's test client in this process, as a browser does: GET of the emailed link,
then POST of its button. It prints the median and p95 of the CPU time (time.process_time) and
the wall time of each, and of confirm_link alone on further signatures; then checks that the
tally and every rollup equal a recount. The scratch database is dropped at the end. Figures
are noisy on a shared machine: compare runs made one after the other.
"""

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time

from harness import BASE, in_process_database, recreate

sys.path.insert(0, str(BASE))


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):.2f} ms, p95 {p95:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    options = parser.parse_args()
    admin_url, name = in_process_database("bench_confirming")
    # The emails wait for the worker, as in production: only the confirmation is measured.
    os.environ["EMAIL_QUEUE"] = "worker"
    # The per-process caches as in production (the petition, the pages), which DEBUG turns off.
    os.environ["PAGE_CACHE_SECONDS"] = "5"
    try:
        import django

        django.setup()
        import io

        from django.core.management import call_command
        from django.test import Client
        from django.test.utils import setup_test_environment
        from django.urls import reverse

        from partners.models import Partner
        from petitions import services
        from petitions.content import SLUG
        from petitions.models import Petition, Signature
        from petitions.tokens import confirm_token

        setup_test_environment()
        call_command("migrate", verbosity=0)
        call_command("load_campaign_content", stdout=io.StringIO())
        petition = Petition.objects.get(slug=SLUG)
        partners = [None, *Partner.objects.order_by("pk").values_list("pk", flat=True)[:3]]
        countries = ("NL", "PL", "HU", "UA", "TR")
        sources = ("petition", "home", "story")
        ids = [
            services.sign_petition(
                petition=petition,
                first_name="Bench",
                last_name=f"Signer {n}",
                email=f"confirming{n}@bench.example",
                country=countries[n % len(countries)],
                source=sources[n % len(sources)],
                source_story="azerbaijan" if n % len(sources) == 2 else "",
                partner_id=partners[n % len(partners)],
            )
            for n in range(2 * options.links)
        ]
        public = dict(Signature.objects.filter(pk__in=ids).values_list("pk", "public_id"))
        url = reverse("petitions:confirm", kwargs={"slug": petition.slug})
        client = Client()
        profile = cProfile.Profile() if options.profile else None
        if profile:
            profile.enable()
        times: dict[str, list[float]] = {"GET cpu": [], "GET wall": [], "POST cpu": []}
        times["POST wall"] = []
        for signature_id in ids[: options.links]:
            token = confirm_token(public[signature_id])
            for method, data in (("GET", {"t": token}), ("POST", {"t": token})):
                cpu, wall = time.process_time(), time.perf_counter()
                response = getattr(client, method.lower())(url, data)
                times[f"{method} cpu"].append((time.process_time() - cpu) * 1000)
                times[f"{method} wall"].append((time.perf_counter() - wall) * 1000)
                assert response.status_code == (200 if method == "GET" else 302), response
        if profile:
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        alone = []
        for signature_id in ids[options.links :]:
            wall = time.perf_counter()
            services.confirm_link(signature_id=public[signature_id], petition=petition)
            alone.append((time.perf_counter() - wall) * 1000)
        for what, values in times.items():
            print(f"{what}: {summary(values)}")
        print(f"confirm_link alone (wall): {summary(alone)}")
        recount = services.recount_signatures(petition)
        print(f"recount: {recount.after} confirmed, tally and rollups exact: {recount.was_correct}")
        assert recount.after == 2 * options.links and recount.was_correct
    finally:
        from django.db import connections

        connections.close_all()
        recreate(admin_url, name, drop_only=True)


if __name__ == "__main__":
    main()

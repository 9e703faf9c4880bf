"""Whether the site's answers reveal by their time that an address has signed (issue 11).

    DATABASE_URL=postgres://root@127.0.0.1:5432/test .venv/bin/python bench/timing.py

It creates a scratch database (`<name>_bench_timing`) beside the one DATABASE_URL names,
migrates it, stores background signatures and a set of addresses that have signed, then, in
this process, through Django's test Client, with EMAIL_QUEUE=worker as in production:

- signs the petition 1,000 times with addresses that have signed and 1,000 times with new
  ones, the two interleaved in random order;
- asks for a new confirmation link by email as often, for the same kinds of addresses;

after a warm-up, in 3 runs. Each request is timed alone. The addresses that have signed asked
for their last email a day before, so each of their requests puts an email in the outbox: the
most work the site does for them. The figures go to bench/TIMING.md: the median and 90th
percentile per kind, and the spread between runs of the same kind (the noise). The target:
the medians of "has signed" and "new" differ by less than that noise.

`--before` writes the figures into the file's "before" section and keeps the rest, and a
normal run keeps that section: the measurement of the code before a change stays beside the
one after it. The scratch database is dropped at the end.
"""

import argparse
import datetime as dt
import os
import platform
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import BASE, machine, recreate, scratch_database, source_database_url

sys.path.insert(0, str(BASE))

KINDS = ("has signed", "new")
BEFORE_START, BEFORE_END = "<!-- before -->", "<!-- /before -->"


@dataclass(frozen=True)
class Figures:
    """The timings of one action (signing, or asking for a new link), in milliseconds."""

    action: str
    runs: list[dict[str, list[float]]]  # per run: kind -> each request's time
    statements: dict[str, int]  # kind -> SQL statements one request sends

    def median(self, kind: str, run: int | None = None) -> float:
        times = self._times(kind, run)
        return statistics.median(times)

    def p90(self, kind: str, run: int | None = None) -> float:
        return statistics.quantiles(self._times(kind, run), n=10)[-1]

    def spread(self, kind: str) -> float:
        """Run-to-run noise: how far apart the medians of the runs of one kind are."""
        medians = [self.median(kind, run) for run in range(len(self.runs))]
        return max(medians) - min(medians)

    def difference(self, run: int | None = None) -> float:
        return self.median("has signed", run) - self.median("new", run)

    @property
    def noise(self) -> float:
        """The smaller of the two kinds' spreads: the stricter bar."""
        return min(self.spread(kind) for kind in KINDS)

    @property
    def met(self) -> bool:
        return abs(self.difference()) < self.noise

    def _times(self, kind: str, run: int | None) -> list[float]:
        if run is not None:
            return self.runs[run][kind]
        return [t for times in self.runs for t in times[kind]]


def configure(url: str) -> None:
    """The site's settings, as in production where it matters here: the email worker sends,
    connections are kept, the petition is kept in memory for a few seconds. Rate limits are
    counted (the work is done) but set high enough never to refuse; the form's minimum time is
    off, since the script fills it in at once. The cache is the development one (in this
    process), so that no Redis round trip adds its noise to the database's share."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "campaign.settings",
            "DATABASE_URL": url,
            "DEBUG": "True",  # only to start with the in-process cache; switched off below
            "EMAIL_QUEUE": "worker",
            "PAGE_CACHE_SECONDS": "5",
            "RATE_LIMIT_SIGN": "1000000/s",
            "RATE_LIMIT_LINKS": "1000000/s",
            "SIGNATURE_MIN_FORM_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False  # no query log, no debug pages


def seed(petition, *, background: int, known: list[str]) -> None:
    """Signatures of other people (so that look-ups are not into a near-empty table), and the
    addresses that have signed, pending, as a signer who has not clicked their link yet."""
    from django.utils import timezone

    from petitions.models import Signature

    now = timezone.now()
    rows = [
        Signature(
            petition=petition,
            first_name="Background",
            last_name=str(n),
            email=f"background{n}@example.org",
            country="NL",
            status=Signature.Status.CONFIRMED,
            confirmed_at=now,
            created_at=now - dt.timedelta(days=2),
        )
        for n in range(background)
    ]
    rows += [
        Signature(
            petition=petition,
            first_name="Known",
            last_name="Signer",
            email=email,
            country="NL",
            created_at=now - dt.timedelta(days=1),
        )
        for email in known
    ]
    Signature.objects.bulk_create(rows, batch_size=2000)


def asked_a_day_ago(emails: list[str]) -> None:
    """The state of a signer whose last email went out a day ago: the next request sends one."""
    from django.utils import timezone

    from petitions.models import Signature, address_hash

    # Addresses are sealed: found by their keyed hash.
    Signature.objects.filter(email_hash__in=[address_hash(email) for email in emails]).update(
        email_due=False,
        email_requested_at=timezone.now() - dt.timedelta(days=1),
        email_sent_at=timezone.now() - dt.timedelta(days=1),
    )
    # As a day's quiet would leave their rows: the versions this UPDATE left behind cleared
    # away, so that the next request for them does not clear them instead.
    vacuum()


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE petitions_signature")


def sign_request(slug: str):
    from django.urls import reverse

    from petitions.forms import form_timestamp

    path = reverse("petitions:sign", kwargs={"slug": slug})

    def post(client, email: str):
        data = {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": email,
            "country": "NL",
            "source": "petition",
            "rendered_at": form_timestamp(),
            "website": "",
        }
        return lambda: client.post(path, data)

    return post


def new_link_request(slug: str):
    from django.urls import reverse

    path = reverse("petitions:new_link", kwargs={"slug": slug})

    def post(client, email: str):
        return lambda: client.post(path, {"email": email})

    return post


def timed(client, request, plan: list[tuple[str, str]]) -> dict[str, list[float]]:
    """Send the requests in the plan's order; each one's time, in ms, by kind."""
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for kind, email in plan:
        send = request(client, email)  # the form's timestamp is signed outside the timing
        started = time.perf_counter_ns()
        response = send()
        elapsed = time.perf_counter_ns() - started
        if response.status_code != 302:
            raise RuntimeError(f"{kind}: status {response.status_code}, expected 302")
        times[kind].append(elapsed / 1e6)
    return times


def statements(client, request, known: str, new: str) -> dict[str, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for kind, email in (("has signed", known), ("new", new)):
        with CaptureQueriesContext(connection) as queries:
            request(client, email)()
        counts[kind] = len(queries)
    return counts


def plan(known: list[str], new: list[str], rng: random.Random) -> list[tuple[str, str]]:
    mixed = [("has signed", email) for email in known] + [("new", email) for email in new]
    rng.shuffle(mixed)
    return mixed


def measure(slug: str, options) -> list[Figures]:
    from django.test import Client

    from petitions.models import Petition

    rng = random.Random(options.seed)
    n, warm = options.requests, options.warmup
    petition = Petition.objects.get(slug=slug)
    known = [f"signed{i}@example.org" for i in range(n)]
    warm_known = [f"warm-signed{i}@example.org" for i in range(warm)]
    seed(petition, background=options.background, known=known + warm_known)
    vacuum()
    client = Client()
    actions = {"signing": sign_request(slug), "new link by email": new_link_request(slug)}
    runs: dict[str, list[dict[str, list[float]]]] = {action: [] for action in actions}

    # Warm-up: imports, template and URL caches, the connection, the database's buffers.
    asked_a_day_ago(warm_known)
    for action, request in actions.items():
        fresh = [f"warm-{action.split()[0]}-{i}@example.org" for i in range(warm)]
        timed(client, request, plan(warm_known, fresh, rng))
        asked_a_day_ago(warm_known)

    for run in range(options.runs):
        for action, request in actions.items():
            asked_a_day_ago(known)
            fresh = [f"new-{action.split()[0]}-{run}-{i}@example.org" for i in range(n)]
            runs[action].append(timed(client, request, plan(known, fresh, rng)))
            print(f"run {run + 1}, {action}: done", flush=True)

    asked_a_day_ago(known)
    return [
        Figures(
            action,
            runs[action],
            statements(client, request, known[0], f"counted-{action.split()[0]}@example.org"),
        )
        for action, request in actions.items()
    ]


def table(figures: list[Figures]) -> str:
    lines = [
        "| action | kind | statements | median ms | p90 ms | median of each run, ms |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for f in figures:
        for kind in KINDS:
            each = ", ".join(f"{f.median(kind, run):.3f}" for run in range(len(f.runs)))
            lines.append(
                f"| {f.action} | {kind} | {f.statements[kind]} | {f.median(kind):.3f} | "
                f"{f.p90(kind):.3f} | {each} |"
            )
    lines += [
        "",
        "| action | has signed − new, ms (all runs) | each run | run-to-run spread, ms "
        "(has signed; new) | |",
        "| --- | ---: | --- | --- | --- |",
    ]
    for f in figures:
        each = ", ".join(f"{f.difference(run):+.3f}" for run in range(len(f.runs)))
        spreads = "; ".join(f"{f.spread(kind):.3f}" for kind in KINDS)
        verdict = "within the noise" if f.met else "**larger than the noise**"
        lines.append(f"| {f.action} | {f.difference():+.3f} | {each} | {spreads} | {verdict} |")
    return "\n".join(lines)


def section(figures: list[Figures], options) -> str:
    import django
    import psycopg
    from django.db import connection

    return f"""{table(figures)}

- {options.requests:,} requests of each kind per action and run, {options.runs} runs, after a
  warm-up of {options.warmup:,} of each; {options.background:,} other signatures in the table.
- Measured on {dt.date.today().isoformat()}: {machine()}; Python {platform.python_version()},
  Django {django.get_version()}, PostgreSQL {connection.pg_version // 10000}.{
        connection.pg_version % 10000
    } (psycopg {psycopg.__version__}), on the same machine."""


def write(path: Path, figures: list[Figures], options) -> None:
    measured = section(figures, options)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    kept = re.search(f"{re.escape(BEFORE_START)}.*?{re.escape(BEFORE_END)}", old, re.S)
    before = kept.group(0) if kept else f"{BEFORE_START}\n(not measured)\n{BEFORE_END}"
    after = ""
    if options.before:
        before = f"{BEFORE_START}\n{measured}\n{BEFORE_END}"
        kept_after = re.search(r"## After the change\n\n(.*?)\n\n## ", old, re.S)
        after = kept_after.group(1) if kept_after else "(not measured)"
    else:
        after = measured
    verdicts = (
        ", ".join(f"{f.action}: {'met' if f.met else 'MISSED'}" for f in figures)
        if not options.before
        else "see the figures after the change"
    )
    path.write_text(
        f"""# Does the time of an answer say whether an address has signed?

Measured by `bench/timing.py` (PostgreSQL via `DATABASE_URL`; the script creates and drops a
scratch database). Target: for signing and for asking for a new link by email, the median
time for an address that has signed and for a new one differ by less than the run-to-run
noise (the spread of the medians between runs of the same kind; the smaller of the two
kinds' spreads is the bar): **{verdicts}**.

How it is measured: in one process, through Django's test Client, the whole request (URL
routing, middleware, form, rate limit, the database, the redirect) with EMAIL_QUEUE=worker as
in production, so no email is sent in the request. In each run the two kinds of address are
interleaved in random order, so drift of the machine (two cores shared with other work)
touches both alike. Every address that has signed last asked for an email a day before, so
each of its requests puts a new email in the outbox: the most work the site can do for it.
"Statements" counts what one request sends to the database as Django logs it, BEGIN and
COMMIT included.

Why the times agree now, and where they still differ. Most of a write's time is its commit
waiting for the disk (on this machine 0.4 to 4 ms, against 0.1 to 0.2 ms for a statement with
nothing to flush), so a request must not write for one kind of address and not for the other:

- Signing is one statement whatever the address (`INSERT ... ON CONFLICT (petition_id, email_hash)
  DO UPDATE ... RETURNING`). It writes a row either way: a new signature, or the outbox
  columns of the one there (to new values if an email is due, else to their own), never the
  first signing's details. Both kinds commit a write and wait for the disk alike.
- Asking for a new link is one conditional UPDATE whatever the address. It writes only for an
  address that has signed (and had no email in the last SIGNATURE_EMAIL_INTERVAL seconds), so
  its transaction commits without waiting for the disk (`SET LOCAL synchronous_commit TO OFF`,
  for that transaction only; the price: a request made in the moment before PostgreSQL
  crashes may be lost, and the signer asks again). What is left between the kinds is the
  write itself, a new row version, its index entries and a commit record: about 0.2 ms of
  database time here, at the edge of the run-to-run noise. It has the same sign in every run,
  so on a quiet machine, whose runs agree more closely, it can come out above the bar. An
  address shows it at most once per SIGNATURE_EMAIL_INTERVAL (within it, nothing is written
  for anyone), and each time its signer gets an email. Only the same write for every
  address would remove it: each request queued as a row, whatever the address, for the email
  worker to resolve.

Not measured: with EMAIL_QUEUE=immediate (development) the email is sent during the request,
and only to an address that has signed; production runs the email worker.

## After the change

{after}

## Before the change

The same script on the code before it (signing: an INSERT that stores nothing, then a SELECT
and a conditional UPDATE for an address that has signed; a new link: a SELECT and, for an
address that has signed, an UPDATE, in a transaction). That was the commit before the change,
without other work done since, so compare the differences between the kinds, not the times.

{before}
""",
        encoding="utf-8",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="per kind, action and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200, help="per kind and action")
    parser.add_argument("--background", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--before", action="store_true", help="write the 'before' section")
    parser.add_argument("--output", default=str(BASE / "bench" / "TIMING.md"))
    options = parser.parse_args()

    url, admin_url, name = scratch_database(source_database_url(), "bench_timing")
    recreate(admin_url, name)
    try:
        configure(url)
        from django.core.management import call_command

        from petitions.content import SLUG, load_petition

        call_command("migrate", verbosity=0)
        load_petition()
        figures = measure(SLUG, options)
        write(Path(options.output), figures, options)
    finally:
        from django.db import connections

        connections.close_all()
        recreate(admin_url, name, drop_only=True)
    print(table(figures))
    print(f"written to {options.output}")


if __name__ == "__main__":
    main()

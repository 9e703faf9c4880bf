"""Memory and time of exporting 1,000,000 signatures, through the admin view and the command.

    DATABASE_URL=postgres://root@127.0.0.1:5432/test .venv/bin/python bench/export_memory.py

It creates a scratch database (`<name>_bench_export`) beside the one DATABASE_URL names,
migrates it, inserts the signatures with one INSERT ... SELECT generate_series, then:

- runs the admin's "Export CSV" view in this process, reading the streamed response and
  throwing it away, while a thread samples this process's resident memory every 5 ms;
- runs `manage.py export_signatures` in a child process and reads its peak memory, against
  the peak of a child that only starts Django.

The figures go to bench/EXPORT.md. The scratch database is dropped at the end.
"""

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import (
    BASE,
    SEEDED_EMAIL_HASH,
    SEEDED_RECEIPT_HASH,
    in_process_database,
    recreate,
    sealed_pool,
)

sys.path.insert(0, str(BASE))


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class PeakSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_kib()
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_kib())
            time.sleep(0.005)

    def stop(self) -> int:
        self.running = False
        self.join()
        return max(self.peak, rss_kib())


def child_peak_kib(args: list[str], env: dict) -> tuple[int, float]:
    """Peak resident memory of a child process (via wait4), and its wall time."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=BASE, env=env, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed")
    return usage.ru_maxrss, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--output", default=str(BASE / "bench" / "EXPORT.md"))
    options = parser.parse_args()

    admin_url, name = in_process_database("bench_export")
    env = dict(os.environ)

    try:
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import setup_test_environment

        from petitions.content import SLUG, load_petition
        from petitions.models import Petition
        from petitions.services import recount_signatures

        call_command("migrate", verbosity=0)
        load_petition()
        petition = Petition.objects.get(slug=SLUG)
        started = time.perf_counter()
        # Names and addresses are sealed (SQL cannot seal: pools sealed here); confirmed
        # signers keep their address only if they asked for updates (every third here).
        pool = 1000
        firsts = sealed_pool([f"Firstname{n}" for n in range(pool)])
        lasts = sealed_pool([f"Lastname-Ünïcode {n}" for n in range(pool)])
        addresses = sealed_pool([f"signer{n}@example.org" for n in range(pool)])
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO petitions_signature
                    (petition_id, first_name, last_name, email, email_hash, country,
                     wants_updates, hide_name, source, source_story, language, status,
                     created_at, confirmed_at, email_due, email_attempts, email_problem,
                     public_id, receipt, receipt_hash, partner_updates, utm_source, utm_medium,
                     utm_campaign)
                SELECT %s, (%s::text[])[1 + n %% {pool}], (%s::text[])[1 + n %% {pool}],
                       CASE WHEN n %% 3 = 0 THEN (%s::text[])[1 + n %% {pool}] END,
                       {SEEDED_EMAIL_HASH},
                       (ARRAY['NL','BE','DE','PL','HU','TR','UA','AZ'])[1 + n %% 8],
                       n %% 3 = 0, n %% 10 = 0, 'home', '', 'en', 'confirmed',
                       now() - (n || ' seconds')::interval, now(), false, 0, '',
                       gen_random_uuid(), '', {SEEDED_RECEIPT_HASH}, false, '', '', ''
                FROM generate_series(1, %s) AS n
                """,
                [petition.pk, firsts, lasts, addresses, options.rows],
            )
        recount_signatures(petition)
        seeded = time.perf_counter() - started
        print(f"seeded {options.rows} signatures in {seeded:.1f}s", flush=True)

        setup_test_environment()
        user = get_user_model().objects.create_superuser("bench", "bench@example.org", "x")
        client = Client()
        client.force_login(user)
        # The admin asks for a second factor: sign in as with one.
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        session = client.session
        session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.create(user=user).persistent_id
        session.save()
        url_export = f"/admin/petitions/signature/export/?petition__id__exact={petition.pk}"
        client.get("/admin/petitions/signature/")  # warm up imports and caches

        baseline = rss_kib()
        sampler = PeakSampler()
        sampler.start()
        started = time.perf_counter()
        response = client.get(url_export)
        size = rows = 0
        for chunk in response.streaming_content:
            size += len(chunk)
            rows += chunk.count(b"\r\n")
        admin_seconds = time.perf_counter() - started
        admin_growth = (sampler.stop() - baseline) / 1024
        print(f"admin view: {rows - 1} rows, {size / 1e6:.0f} MB in {admin_seconds:.1f}s, "
              f"memory growth {admin_growth:.1f} MB", flush=True)  # fmt: skip

        manage = [sys.executable, "manage.py"]
        idle_kib, _ = child_peak_kib([*manage, "check"], env)
        target = "/tmp/bench-export-signatures.csv"
        command_kib, command_seconds = child_peak_kib(
            [*manage, "export_signatures", SLUG, "--output", target], env
        )
        command_growth = (command_kib - idle_kib) / 1024
        command_size = os.path.getsize(target)
        os.unlink(target)
        print(f"command: {command_size / 1e6:.0f} MB in {command_seconds:.1f}s, peak "
              f"{command_kib / 1024:.0f} MB vs {idle_kib / 1024:.0f} MB idle: "
              f"growth {command_growth:.1f} MB", flush=True)  # fmt: skip
    finally:
        from django.db import connections

        connections.close_all()
        recreate(admin_url, name, drop_only=True)

    verdict = "met" if max(admin_growth, command_growth) < 50 else "MISSED"
    admin_row = (
        f'| admin "Export CSV" view (streamed, in-process) | {rows - 1:,} | '
        f"{size / 1e6:.0f} MB | {admin_seconds:.1f} s | {admin_growth:.1f} MB |"
    )
    command_row = (
        f"| `manage.py export_signatures --output` | {options.rows:,} | "
        f"{command_size / 1e6:.0f} MB | {command_seconds:.1f} s | {command_growth:.1f} MB "
        f"(peak {command_kib / 1024:.0f} MB, Django alone {idle_kib / 1024:.0f} MB) |"
    )
    Path(options.output).write_text(
        f"""# Export of {options.rows:,} signatures

Measured by `bench/export_memory.py` (rerun: `make bench-export`, PostgreSQL via
`DATABASE_URL`). Target: memory growth under 50 MB: **{verdict}**.

| path | rows | file size | time | memory growth |
| --- | ---: | ---: | ---: | ---: |
{admin_row}
{command_row}

- Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},
  PostgreSQL via psycopg {__import__("psycopg").__version__}; {dt.date.today().isoformat()}.
- Memory growth of the view is the peak resident memory while the response was read, sampled
  every 5 ms, minus the memory just before; of the command, its peak resident memory minus that
  of `manage.py check` (Django started, nothing exported).
- Seeding {options.rows:,} rows took {seeded:.0f} s and is not part of the figures.
""",
        encoding="utf-8",
    )
    print(f"written to {options.output}")


if __name__ == "__main__":
    main()

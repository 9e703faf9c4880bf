"""Time, rows per second and memory of exporting 1,000,000 signatures, through the admin view
and the command, and what opening the sealed names and addresses costs in it.

    DATABASE_URL=postgres://root@127.0.0.1:5432/test .venv/bin/python bench/export_memory.py

It creates a scratch database (`<name>_bench_export`, <name> the database DATABASE_URL names,
so that benches pointed at different names never share one) beside the one DATABASE_URL names,
migrates it, inserts the signatures with one INSERT ... SELECT generate_series, names and
addresses sealed as the site seals them, then, --runs times each:

- runs the admin's "Export CSV" view in this process, reading the streamed response and
  throwing it away, while a thread samples this process's resident memory every 5 ms;
- runs `manage.py export_signatures` in a child process and reads its peak memory, against
  the peak of a child that only starts Django;

and once, the decryption alone: every sealed value the export opens, read from the database
first, opened as the export opens them (unseal_many, a chunk at a time) and, for a sample, one
at a time as the field opens a single value (unseal); the sample again sealed with Fernet, as
values were before the current format, and opened so; and sealing, AES-GCM against Fernet.

The figures go to bench/EXPORT.md. The scratch database is dropped at the end.
"""

import argparse
import datetime as dt
import os
import platform
import statistics
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
    machine,
    recreate,
    sealed_pool,
)

sys.path.insert(0, str(BASE))

TARGET_ROWS_PER_SECOND = 150_000
TARGET_GROWTH_MB = 50
SAMPLE = 100_000  # tokens opened one at a time, for the comparison
SHORT_OF_TARGET = """\
Where the time goes, while the rate is short of the target: at 150,000 rows/s an export may
spend 6.7 µs of CPU a row in all. It spent {cpu:.1f} µs a row: {opening:.1f} µs opening the row's
two or three values (per value one call of the `cryptography` package's AESGCM, about a
microsecond when timed alone; the base64 decoding is one call a column of a chunk), {rest:.1f} µs
reading the rows and joining the lines. Worker processes opening alternate chunks beside the
one that reads (tried: two of them, fed each chunk's columns through a pipe, their text taken
back in order) cost more CPU than they saved on these two cores, shared with PostgreSQL and
with other work: on 200,000 rows, 29,000 to 43,000 rows/s against 45,000 to 62,000 in one
process, measured by turns on the same data. What is left is fewer values a row (a signer's
fields sealed together: one call a row instead of up to three), a change of the stored format
to decide on its own, or a machine with cores to spare for workers.
"""


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


def seed(petition, rows: int) -> None:
    """The signatures, sealed names and addresses included. Confirmed signers keep their
    address only if they asked for updates (every third here), and every tenth asked to be
    left out of the list (hide_name: the export leaves the name blank and does not open it).
    SQL cannot seal: the values come from pools sealed here, and reading a row opens its
    tokens whether or not other rows share them, so a pool costs what distinct values would."""
    from django.db import connection

    from petitions.models import Signature

    pool = 1000
    firsts = sealed_pool([f"Firstname{n}" for n in range(pool)], "first_name")
    lasts = sealed_pool([f"Lastname-Ünïcode {n}" for n in range(pool)], "last_name")
    addresses = sealed_pool([f"signer{n}@example.org" for n in range(pool)], "email")
    given = {
        "petition_id": "%s",
        "first_name": f"(%s::text[])[1 + n % {pool}]",
        "last_name": f"(%s::text[])[1 + n % {pool}]",
        "email": f"CASE WHEN n % 3 = 0 THEN (%s::text[])[1 + n % {pool}] END",
        "email_hash": SEEDED_EMAIL_HASH,
        "country": "(ARRAY['NL','BE','DE','PL','HU','TR','UA','AZ'])[1 + n % 8]",
        "wants_updates": "n % 3 = 0",
        "hide_name": "n % 10 = 0",
        "source": "'home'",
        "status": "'confirmed'",
        "created_at": "now() - (n || ' seconds')::interval",
        "confirmed_at": "now() - (n || ' milliseconds')::interval",
        "public_id": "gen_random_uuid()",
        "receipt": "''",
        "receipt_hash": SEEDED_RECEIPT_HASH,
    }
    params = [petition.pk, firsts, lasts, addresses]
    # Every other column that needs a value takes its field's default (a text field's is ""),
    # so that a field added later does not break the seeding.
    for field in Signature._meta.concrete_fields:
        made = field.has_default() and callable(field.default)  # one per row: name it above
        if field.column in given or field.null or field.primary_key or made:
            continue
        given[field.column] = "%s"
        params.append(field.get_db_prep_save(field.get_default(), connection))
    columns = ", ".join(given)
    values = ", ".join(
        expression.replace("%", "%%").replace("%%s", "%s") for expression in given.values()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO petitions_signature ({columns}) SELECT {values} "
            "FROM generate_series(1, %s) AS n",
            [*params, rows],
        )
        cursor.execute("VACUUM ANALYZE petitions_signature")


def admin_run(client, url: str) -> dict:
    baseline = rss_kib()
    sampler = PeakSampler()
    sampler.start()
    started = time.perf_counter()
    cpu = time.process_time()
    response = client.get(url)
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\r\n")
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    growth = (sampler.stop() - baseline) / 1024
    return {"rows": lines - 1, "size": size, "seconds": seconds, "cpu": cpu, "growth": growth}


def command_run(env: dict, slug: str, idle_kib: int) -> dict:
    target = "/tmp/bench-export-signatures.csv"
    peak_kib, seconds = child_peak_kib(
        [sys.executable, "manage.py", "export_signatures", slug, "--output", target], env
    )
    size = os.path.getsize(target)
    os.unlink(target)
    return {
        "size": size,
        "seconds": seconds,
        "peak": peak_kib,
        "growth": (peak_kib - idle_kib) / 1024,
    }


def decryption(queryset) -> dict:
    """The cost of opening what the export opens, apart from everything else it does: the
    sealed values are read first, then opened a chunk of rows at a time as the export does
    (unseal_column, a column of the chunk at a time, AES-GCM), then a sample one at a time as
    the field opens a value read alone (unseal). For comparison, the same sample sealed as
    values were before (Fernet, with the same key) and opened as such values still are
    (unseal_many's Fernet fallback); and sealing, as signing does up to four times a
    signature: seal() against Fernet's encrypt."""
    from cryptography.fernet import Fernet, MultiFernet
    from django.conf import settings

    from campaign.lib.sealed import (
        seal,
        sealed_context,
        stored_token,
        unseal,
        unseal_column,
        unseal_many,
    )
    from petitions.exports import CHUNK_SIZE, SEALED_FIELDS
    from petitions.models import Signature

    contexts = [sealed_context(Signature, name) for name in SEALED_FIELDS]
    rows = queryset.order_by("pk").values_list(
        *(stored_token(name) for name in SEALED_FIELDS), "hide_name"
    )
    laid = []  # as the export lays them: a row's three values, hidden names left blank
    for first, last, email, hide_name in rows.iterator(chunk_size=CHUNK_SIZE):
        laid += ("", "", email) if hide_name else (first, last, email)
    tokens = sum(1 for token in laid if token)
    width = len(SEALED_FIELDS)
    started = time.process_time()
    for start in range(0, len(laid), CHUNK_SIZE * width):
        chunk = laid[start : start + CHUNK_SIZE * width]
        for index, context in enumerate(contexts):
            unseal_column([token or "" for token in chunk[index::width]], context)
    batched = time.process_time() - started

    opened = [(token, contexts[index % width]) for index, token in enumerate(laid) if token]
    sample = opened[:SAMPLE]
    started = time.process_time()
    texts = [unseal(token, context) for token, context in sample]
    alone = (time.process_time() - started) / len(sample)

    fernet = MultiFernet([Fernet(key) for key in settings.SIGNER_DATA_KEY])
    encoded = [text.encode("utf-8") for text in texts]
    started = time.process_time()
    old = [fernet.encrypt(text).decode("ascii") for text in encoded]
    fernet_seal = (time.process_time() - started) / len(sample)
    started = time.process_time()
    unseal_many(old)
    fernet_open = (time.process_time() - started) / len(sample)

    started = time.process_time()
    for text, (_token, context) in zip(texts, sample, strict=True):
        seal(text, context)
    gcm_seal = (time.process_time() - started) / len(sample)
    return {
        "tokens": tokens,
        "batched": batched,
        "per_token": batched / tokens,
        "alone": alone,
        "fernet_open": fernet_open,
        "sample": len(sample),
        "seal": gcm_seal,
        "fernet_seal": fernet_seal,
    }


def spread(values: list[float], unit: str, digits: int = 1) -> str:
    """The median, and the range when there was more than one run."""
    median = f"{statistics.median(values):,.{digits}f}{unit}"
    if len(values) < 2:
        return median
    return f"{median} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", default=str(BASE / "bench" / "EXPORT.md"))
    options = parser.parse_args()

    admin_url, name = in_process_database("bench_export")
    env = dict(os.environ)
    admin: list[dict] = []
    command: list[dict] = []

    try:
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.test import Client
        from django.test.utils import setup_test_environment

        from petitions.content import SLUG, load_petition
        from petitions.models import Petition, Signature
        from petitions.services import recount_signatures

        call_command("migrate", verbosity=0)
        load_petition()
        petition = Petition.objects.get(slug=SLUG)
        started = time.perf_counter()
        seed(petition, options.rows)
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
        idle_kib, idle_seconds = child_peak_kib([sys.executable, "manage.py", "check"], env)

        for run in range(1, options.runs + 1):
            result = admin_run(client, url_export)
            admin.append(result)
            print(f"admin view, run {run}: {result['rows']} rows, {result['size'] / 1e6:.0f} MB "
                  f"in {result['seconds']:.1f}s ({result['cpu']:.1f}s CPU), memory growth "
                  f"{result['growth']:.1f} MB", flush=True)  # fmt: skip
            result = command_run(env, SLUG, idle_kib)
            command.append(result)
            print(f"command, run {run}: {result['size'] / 1e6:.0f} MB in "
                  f"{result['seconds']:.1f}s, peak {result['peak'] / 1024:.0f} MB vs "
                  f"{idle_kib / 1024:.0f} MB idle: growth {result['growth']:.1f} MB",
                  flush=True)  # fmt: skip
        load_averages = os.getloadavg()
        opened = decryption(Signature.objects.filter(petition=petition))
        print(f"decryption: {opened['tokens']} values, {opened['batched']:.1f}s CPU a chunk at "
              f"a time, per value {opened['per_token'] * 1e6:.2f} µs, alone "
              f"{opened['alone'] * 1e6:.2f} µs, Fernet {opened['fernet_open'] * 1e6:.2f} µs; "
              f"sealing {opened['seal'] * 1e6:.2f} µs, Fernet {opened['fernet_seal'] * 1e6:.2f} "
              "µs", flush=True)  # fmt: skip
    finally:
        from django.db import connections

        connections.close_all()
        recreate(admin_url, name, drop_only=True)

    rows = admin[0]["rows"]
    admin_rate = [rows / run["seconds"] for run in admin]
    command_rate = [rows / run["seconds"] for run in command]
    fast = statistics.median(admin_rate + command_rate) >= TARGET_ROWS_PER_SECOND
    small = max(run["growth"] for run in admin + command) < TARGET_GROWTH_MB
    admin_row = (
        f'| admin "Export CSV" view (streamed, in-process) | {rows:,} | '
        f"{admin[0]['size'] / 1e6:.0f} MB | {spread([r['seconds'] for r in admin], ' s')} | "
        f"{spread(admin_rate, '', 0)} | {spread([r['growth'] for r in admin], ' MB')} |"
    )
    command_row = (
        f"| `manage.py export_signatures --output` (Django start-up included) | {rows:,} | "
        f"{command[0]['size'] / 1e6:.0f} MB | {spread([r['seconds'] for r in command], ' s')} | "
        f"{spread(command_rate, '', 0)} | {spread([r['growth'] for r in command], ' MB')} |"
    )
    per_row = opened["batched"] / rows * 1e6
    admin_cpu = statistics.median(run["cpu"] for run in admin)
    cpu_rate = spread([rows / run["cpu"] for run in admin], "", 0)
    busy = "/".join(f"{load:.1f}" for load in load_averages)
    cpu_per_row = admin_cpu / rows * 1e6
    short_of_target = SHORT_OF_TARGET.format(
        cpu=cpu_per_row, opening=per_row, rest=cpu_per_row - per_row
    )
    Path(options.output).write_text(
        f"""# Export of {rows:,} signatures

Measured by `bench/export_memory.py` (rerun: `make bench-export`, PostgreSQL via
`DATABASE_URL`; {options.runs} runs of each path on the same data: median, then the range).
Targets: at least {TARGET_ROWS_PER_SECOND:,} rows/s: **{"met" if fast else "MISSED"}**;
memory growth under {TARGET_GROWTH_MB} MB: **{"met" if small else "MISSED"}**.

| path | rows | file size | time | rows/s | memory growth |
| --- | ---: | ---: | ---: | ---: | ---: |
{admin_row}
{command_row}

What opening the sealed names and addresses costs (the decryption alone, CPU time):

| opened | values | CPU time | per value | per exported row |
| --- | ---: | ---: | ---: | ---: |
| as the export opens them: `unseal_column` (AES-GCM), a chunk's column at a time | \
{opened["tokens"]:,} | {opened["batched"]:.1f} s | {opened["per_token"] * 1e6:.2f} µs | \
{per_row:.1f} µs |
| one at a time, as the field opens a value read alone (`unseal`, AES-GCM; \
{opened["sample"]:,} timed, scaled) | {opened["tokens"]:,} | \
{opened["alone"] * opened["tokens"]:.1f} s | {opened["alone"] * 1e6:.2f} µs | \
{opened["alone"] * opened["tokens"] / rows * 1e6:.1f} µs |
| the same values sealed as before the current format (Fernet, opened by `unseal_many`'s \
fallback, as such values still are until `rotate_signer_key` re-seals them; \
{opened["sample"]:,} timed, scaled) | {opened["tokens"]:,} | \
{opened["fernet_open"] * opened["tokens"]:.1f} s | {opened["fernet_open"] * 1e6:.2f} µs | \
{opened["fernet_open"] * opened["tokens"] / rows * 1e6:.1f} µs |

Sealing, which signing does up to four times a signature (names, address, receipt), CPU time a
value over the same {opened["sample"]:,} texts: `seal` (AES-GCM) {opened["seal"] * 1e6:.2f} µs,
Fernet's encrypt (how values were sealed before) {opened["fernet_seal"] * 1e6:.2f} µs.

The admin view used {admin_cpu:.1f} s of CPU in this process for the export (median), that
is {cpu_rate} rows per CPU second: what the export costs whatever else runs (its wall time also
waits for PostgreSQL and for a free core). The decryption is {opened["batched"] / admin_cpu:.0%}
of it; the rest is reading the rows (psycopg's stream) and joining each row's opened values to
the rest of its line, which PostgreSQL writes (country, name, moment, consent, page, quoted
and neutralised as csv.writer would).
{"" if fast else chr(10) + short_of_target}
- Machine: {machine()};
  Python {platform.python_version()}, PostgreSQL via psycopg \
{__import__("psycopg").__version__}; {dt.date.today().isoformat()}.
  Load average (1, 5, 15 minutes) after the exports: {busy}, on {os.cpu_count()} cores.
  Timings vary with the machine and with what else runs on it: compare runs made on the same
  machine on the same day.
- Data: every signer has a sealed first and last name, every third a sealed address (those who
  asked for updates), every tenth asked to be left out of the list (names blank in the export,
  not opened): {opened["tokens"] / rows:.2f} values opened per row.
- Time is the wall time until the last byte was read (view) or the process ended (command,
  whose Django start-up alone, `manage.py check`, took {idle_seconds:.1f} s). Memory growth of
  the view is the peak resident memory while the response was read, sampled every 5 ms, minus
  the memory just before; of the command, its peak resident memory minus that of
  `manage.py check` ({idle_kib / 1024:.0f} MB).
- Seeding {rows:,} rows took {seeded:.0f} s and is not part of the figures.

Before: on 2026-11-30 (the same seeding, one run each, its machine's load not recorded),
with every sealed value opened through the field (one Fernet decrypt a value), timestamps read
into datetimes and one line yielded a row, the view took 104.8 s and the command 113.7 s for
1,000,000 rows (about 9,500 and 8,800 rows/s), memory growth 2.7 MB and 0.0 MB. On 2026-12-01,
values still sealed with Fernet and opened a chunk at a time by a reader of Fernet's format
written in the project (HMACs checked in Python, one AES-CBC run a chunk; replaced since by
AES-GCM, one call of the `cryptography` package a value), the view took 26.9 s and the command
24.5 s (37,130 and 40,742 rows/s); opening cost 7.0 µs a row that way, 32.4 µs with Fernet's
own decrypt. Later that day, values opened with AES-GCM (`unseal_many`, a chunk of rows at a
time), read through the ORM's server-side cursor (outside a transaction it is declared WITH
HOLD, so PostgreSQL computed every row before the first was read) and written by csv.writer
from a list made a row in Python, the view took 17.2 s and the command 16.3 s (58,035 and
61,331 rows/s; 14.6 µs of CPU a row, 4.7 µs of it opening at 2.19 µs a value).
Since then the rows are streamed (PostgreSQL writes while this process reads), PostgreSQL
writes every cell but the sealed ones, and a chunk's values are opened a column at a time and
its lines joined by str.join: 2.2 µs a row besides the opening, against 9.9 before.

The same code on other machines of this kind, on 2026-12-01: on an Intel Xeon @ 2.80GHz whose
load (1.2/2.2/4.2) came from other work, the view took 8.2 s (7.4–8.2; 122,390 rows/s) and the
command 7.6 s (7.1–9.1; 130,789 rows/s), 7.8 µs of CPU a row, opening at 2.12 µs a value: short
of the target there. On an AMD EPYC with one of its two cores kept busy by another process
throughout, the view took 5.0 s (4.8–5.7; 198,562 rows/s) and the command 5.5 s (5.4–5.9;
183,437 rows/s), memory growth 2.0–8.0 MB, opening at 1.17 µs a value.
""",
        encoding="utf-8",
    )
    print(f"written to {options.output}")


if __name__ == "__main__":
    main()

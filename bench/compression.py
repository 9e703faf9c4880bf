"""What gzip costs and saves on the pages: writes bench/COMPRESSION.md.

Starts the site in its production form (as bench/run.py does: gunicorn with gunicorn.conf.py, a
scratch PostgreSQL database beside DATABASE_URL, Redis), then asks wrk for each page with and
without `Accept-Encoding: gzip`, alternating, in rounds. Throughput on this shared machine
swings with the neighbours, so the CPU the gunicorn workers spent per request (read from
/proc before and after each run) is the figure to compare; bytes are one response's body.

    .venv/bin/python bench/compression.py [--seconds 5] [--repeat 3]
"""

import argparse
import datetime as dt
import os
import secrets
import statistics
import subprocess
import urllib.request
from pathlib import Path

from harness import (  # fmt: skip
    BENCH,
    Database,
    Site,
    free_port,
    log,
    machine,
    production_env,
    recreate,
    scratch_database,
    source_database_url,
)
from run import wrk

CLIENTS = 16
NOTES = """
How to read it:

- The home and story pages are the same for every first-time visitor: the page cache keeps them
  compressed once per worker (campaign/lib/pagecache.py), so a compressed copy costs no more CPU
  than a plain one, and a quarter of the bytes. Compressed for each response instead, they
  took 0.3 to 0.5 ms more CPU per request (in-process, through every middleware), a third of
  what serving the cached page costs.
- The petition page and the widget carry a CSRF token per visitor, so each response is
  compressed as sent, at gzip's quickest level (1; campaign.lib.compression.PER_RESPONSE_LEVEL,
  with Heal The Breach's random bytes as Django's GZipMiddleware adds them): that is the extra
  CPU per request in the table. At Django's level 6 the petition page took 1.70 ms plain and
  4.59 ms compressed in an earlier run of this script (7,100 bytes): level 6 paid nearly
  three milliseconds a page on the busiest page of the day for about a tenth fewer bytes.
- Brotli (quality 4 to 5) makes these pages 3 to 8% smaller than gzip at the same or more CPU,
  and Django's Heal The Breach padding exists for gzip only: not used for pages. Static files
  are served by WhiteNoise as brotli or gzip, compressed at collectstatic.
"""
ACCEPT = "gzip, deflate, br"  # what browsers send


def cpu_seconds(site: Site) -> float:
    """User and system CPU of the site's gunicorn workers so far: the live ones', and, through
    the master's figures for its reaped children, that of workers replaced meanwhile (gunicorn
    recycles a worker after max_requests)."""
    ticks = os.sysconf("SC_CLK_TCK")

    def stat(pid: int) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    master = stat(site.process.pid)
    total = int(master[13]) + int(master[14])  # cutime, cstime: reaped workers
    for pid in site.workers():
        try:
            fields = stat(pid)
        except FileNotFoundError:  # gone since listed: the master counts it once reaped
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def body_size(url: str, accept: str | None) -> int:
    request = urllib.request.Request(url, headers={"Accept-Encoding": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return len(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure gzip on the pages.")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", default=str(BENCH / "COMPRESSION.md"))
    options = parser.parse_args()

    db_url, admin_url, db_name = scratch_database(source_database_url(), "compression")
    cache_url = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/12")
    env = production_env(db_url=db_url, cache_url=cache_url, secret=secrets.token_urlsafe(50))
    site = Site(env, free_port(), name="gunicorn-compression")
    recreate(admin_url, db_name)
    runs: dict[tuple[str, bool], list[dict]] = {}
    sizes: dict[tuple[str, bool], int] = {}
    started_at = dt.datetime.now(dt.UTC)
    try:
        site.set_up()
        site.start()
        database = Database(db_url)
        slug = database.slug()
        database.conn.close()
        pages = {
            "home page": "/",
            "story page": "/stories/azerbaijan/",
            "petition page (a token per visitor)": f"/petitions/{slug}/",
            "widget (a token per visitor)": f"/petitions/{slug}/embed/?via=zmina",
        }
        for name, path in pages.items():
            for gzipped in (False, True):
                sizes[name, gzipped] = body_size(site.url + path, ACCEPT if gzipped else None)
        for round_ in range(1, options.repeat + 1):
            for name, path in pages.items():
                for gzipped in (False, True):
                    log(f"{name}, {'gzip' if gzipped else 'plain'} (round {round_})")
                    before = cpu_seconds(site)
                    headers = [f"Accept-Encoding: {ACCEPT}"] if gzipped else []
                    figures = wrk(site.url + path, CLIENTS, options.seconds, tuple(headers))
                    figures["cpu_ms"] = (cpu_seconds(site) - before) / figures["requests"] * 1e3
                    runs.setdefault((name, gzipped), []).append(figures)
    finally:
        site.stop()
        recreate(admin_url, db_name, drop_only=True)
        subprocess.run(["redis-cli", "-u", cache_url, "FLUSHDB"], capture_output=True)

    lines = [
        "# Compression of the pages",
        "",
        f"Measured by `bench/compression.py` on {started_at:%Y-%m-%d %H:%M} UTC: {machine()}.",
        f"gunicorn with gunicorn.conf.py, DEBUG off, Redis cache, PostgreSQL; wrk at {CLIENTS} "
        f"clients, {options.seconds} s per run after a 2 s warm-up, {options.repeat} rounds "
        "alternating plain and gzip; medians. CPU is the gunicorn workers' user and system time "
        "per request, the figure least moved by the machine's neighbours.",
        "",
        "| page | sent | bytes | CPU per request | requests/s | p99 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name in pages:
        for gzipped in (False, True):
            figures = runs[name, gzipped]
            cpu = statistics.median(run["cpu_ms"] for run in figures)
            rate = statistics.median(run["per_second"] for run in figures)
            p99 = statistics.median(run["p99"] for run in figures)
            lines.append(
                f"| {name} | {'gzip' if gzipped else 'plain'} | {sizes[name, gzipped]:,} "
                f"| {cpu:.2f} ms | {rate:,.0f} | {p99:.1f} |"
            )
    Path(options.output).write_text("\n".join(lines) + "\n" + NOTES)
    log(f"results in {options.output}")


if __name__ == "__main__":
    main()

"""The campaign-peak benchmark: `make bench`.

Starts the site in its production form on this machine (gunicorn with gunicorn.conf.py,
PostgreSQL from DATABASE_URL in a scratch database, Redis as the cache), seeds it, runs the
scenarios at 16 and 64 concurrent clients, checks that nothing was lost, stops everything it
started, and writes bench/RESULTS.md. Every request goes to 127.0.0.1; every run is bounded in
time.

Load generators: wrk (C, from Debian's packages) for the GET scenarios and for signing (a Lua
script that keeps each simulated browser's CSRF cookie and token), so that the load generator
takes as little of the two cores as possible; bench/signing.py (Python asyncio + aiohttp) for
confirming mixed with signing, which reads emailed links (and for the fault suite); pgbench for
the bare INSERT ceiling.
"""

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from harness import (
    BASE,
    BENCH,
    PYTHON,
    Check,
    Database,
    Site,
    confirm_tokens,
    free_port,
    log,
    machine,
    production_env,
    recreate,
    scratch_database,
    signing_command,
    source_database_url,
    wrk_signing,
)  # fmt: skip

CONCURRENCY = (16, 64)


def wrk(url: str, clients: int, seconds: int, headers: tuple[str, ...] = ()) -> dict:
    """GET `url` from `clients` connections for `seconds`, after a 2 s warm-up, with these
    request headers ("Name: value")."""

    def command(duration: int) -> list[str]:
        return [
            "wrk", "-t2", f"-c{clients}", f"-d{duration}s", "--timeout", "5s",
            *(f"-H{header}" for header in headers),
            "-s", str(BENCH / "wrk" / "report.lua"), url,
        ]  # fmt: skip

    subprocess.run(command(2), capture_output=True, check=True)  # warm-up, not counted
    output = subprocess.run(command(seconds), capture_output=True, text=True, check=True).stdout
    figures = json.loads(output.split("JSON ", 1)[1])
    figures["per_second"] = figures["requests"] / figures["seconds"]
    return figures


def pgbench(url: str, clients: int, seconds: int) -> dict:
    """A bare INSERT of one signature-sized row per transaction: the ceiling for signing."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "insert.sql"
        script.write_text(
            "INSERT INTO bench_ceiling (email, country, created_at) "
            "VALUES ('c' || :client_id || '-' || random() || '@bench.example', 'NL', now());\n"
        )
        command = [
            "pgbench", "-n", "-f", str(script), "-c", str(clients), "-j", "2",
            "-T", str(seconds), "-l", "--log-prefix", f"{folder}/log", url,
        ]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        latencies = [
            int(line.split()[2]) / 1000
            for log_file in Path(folder).glob("log*")
            for line in log_file.read_text().splitlines()
        ]
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", output)
    return {
        "per_second": tps,
        "requests": len(latencies),
        "errors": int(failed.group(1)) if failed else 0,
        **quantiles(latencies),
    }


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput (for two, the slower), with every run's throughput."""
    ordered = sorted(runs, key=lambda run: run["per_second"])
    return {
        **ordered[(len(ordered) - 1) // 2],
        "runs": [run["per_second"] for run in runs],
        "errors_all": sum(run.get("failed", run.get("errors", 0)) for run in runs),
    }


def quantiles(values: list[float]) -> dict:
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [0] * 99
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": max(values, default=0)}


def signing(site: Site, slug: str, *, signers: int, confirmers: int = 0,
            links: Path | None = None, seconds: int, prefix: str) -> dict:  # fmt: skip
    command = signing_command([site.url], slug, signers=signers, confirmers=confirmers,
                              links=links, seconds=seconds, prefix=prefix)  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output)


def stored_check(db: Database, when: str, acknowledged: int) -> Check:
    """Every signing the site acknowledged so far is a stored row (the scratch database holds
    only the benchmark's signatures)."""
    return Check.equal(f"{when}: signatures stored = sign successes",
                       stored=db.signatures(), acknowledged=acknowledged)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the campaign-peak benchmark.")
    parser.add_argument("--seconds", type=int, default=10, help="per scenario and concurrency")
    parser.add_argument("--skip-export", action="store_true", help="leave out the 1M export")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of every scenario; the median is reported"
    )
    parser.add_argument("--output", default=str(BENCH / "RESULTS.md"))
    parser.add_argument(
        "--only", default="1,2,3,4,5,6,7", help="scenario numbers to run, e.g. 4,5,7"
    )
    options = parser.parse_args()
    only = set(options.only.split(","))
    for tool in ("wrk", "pgbench", "redis-cli"):
        if not shutil.which(tool):
            raise SystemExit(
                f"{tool} is not installed (apt-get install wrk postgresql-client redis-tools)"
            )

    source = source_database_url()
    db_url, admin_url, db_name = scratch_database(source, "bench")
    cache_url = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/7")
    port = free_port()
    env = production_env(db_url=db_url, cache_url=cache_url, secret=secrets.token_urlsafe(50))
    site = Site(env, port)
    results: dict[str, dict] = {}
    checks: list[Check] = []
    started_at = dt.datetime.now(dt.UTC)
    recreate(admin_url, db_name)
    subprocess.run(["redis-cli", "-u", cache_url, "FLUSHDB"], check=True, capture_output=True)
    try:
        log(f"setting up {db_name} and static files")
        site.set_up()
        site.start()
        log(f"gunicorn on {site.url}")
        db = Database(db_url, env["SIGNER_LOOKUP_KEY"])
        db.conn.execute(
            "CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY, email varchar(254), "
            "country varchar(2), created_at timestamptz)"
        )
        slug = db.slug()
        manifest = json.loads((BASE / "staticfiles" / "staticfiles.json").read_text())
        css = "/static/" + manifest["paths"]["css/site.css"]
        story = "/stories/azerbaijan/"
        seconds = options.seconds

        # Rounds rather than back-to-back repeats: a burst of noise from the machine's
        # neighbours then touches one run of a scenario, and the median sets it aside.
        runs: dict[str, list[dict]] = {}
        acknowledged = 0  # signings the site answered with "check your inbox", all rounds
        confirmed = 0  # confirmations it answered with the thank-you page, all rounds
        for round_ in range(1, options.repeat + 1):
            tag = f"(round {round_} of {options.repeat})"
            for clients in CONCURRENCY:
                for key, path in (
                    ("6 static file", css),
                    ("1a home page", "/"),
                    ("1b story page", story),
                    ("1c home page, Russian", "/ru/"),
                    ("2 petition page", f"/petitions/{slug}/"),
                    ("2b petition page, Russian", f"/ru/petitions/{slug}/"),
                    ("2c widget (a partner's frame)", f"/petitions/{slug}/embed/?via=zmina"),
                    ("3 count.json", f"/petitions/{slug}/count.json"),
                    ("3b count badge (SVG)", f"/petitions/{slug}/badge.svg"),
                ):
                    if key[0] in only:
                        log(f"{key} at {clients} clients {tag}")
                        runs.setdefault(f"{key}|{clients}", []).append(
                            wrk(site.url + path, clients, seconds)
                        )
                if "7" in only:
                    log(f"7 bare INSERT ceiling at {clients} clients {tag}")
                    runs.setdefault(f"7 bare INSERT (pgbench)|{clients}", []).append(
                        pgbench(db_url, clients, seconds)
                    )

            for clients in CONCURRENCY if "4" in only else ():
                log(f"4 signing at {clients} clients {tag}")
                prefix = f"s{clients}r{round_}"
                run = wrk_signing(site.url, slug, clients, seconds, prefix=prefix)
                runs.setdefault(f"4 signing|{clients}", []).append(run)
                acknowledged += run["ok"]
                checks.append(stored_check(db, f"after 4 at {clients} {tag}", acknowledged))

            for clients in CONCURRENCY if "5" in only else ():
                half = clients // 2
                links = BENCH / ".links.txt"
                confirm_tokens(env, db.pending_ids(200_000), links)
                log(f"5 confirming mixed with signing at {clients} clients {tag}")
                run = signing(site, slug, signers=half, confirmers=clients - half,
                              links=links, seconds=seconds,
                              prefix=f"m{clients}r{round_}")  # fmt: skip
                links.unlink()
                runs.setdefault(f"5 confirming (with signing)|{clients}", []).append(run["confirm"])
                runs.setdefault(f"5 signing (with confirming)|{clients}", []).append(run["sign"])
                acknowledged += run["sign"]["ok"]
                confirmed += run["confirm"]["ok"]
                checks.append(stored_check(db, f"after 5 at {clients} {tag}", acknowledged))
                # Every link is confirmed once (each token is used by one confirmer).
                checks.append(Check.equal(
                    f"after 5 at {clients} {tag}: confirmed rows = confirm successes",
                    confirmed=db.confirmed(), acknowledged=confirmed,
                ))  # fmt: skip
                checks.append(Check.equal(
                    f"after 5 at {clients} {tag}: stored count = confirmed rows",
                    count=db.count(), confirmed=db.confirmed(),
                ))  # fmt: skip
        results.update({key: median_run(values) for key, values in runs.items()})
        db.conn.close()
    finally:
        site.stop()
        recreate(admin_url, db_name, drop_only=True)
        subprocess.run(["redis-cli", "-u", cache_url, "FLUSHDB"], capture_output=True)
        log("stopped gunicorn, dropped the scratch database, flushed the Redis database")

    # The load figures are written first, so that a failing export loses none of them.
    write_results(Path(options.output), results, checks, started_at, seconds, options.repeat, "")
    export = ""
    if not options.skip_export:
        log("export of 1,000,000 signatures")
        subprocess.run(
            [PYTHON, str(BENCH / "export_memory.py"), "--output", str(BENCH / "EXPORT.md")],
            cwd=BASE, env={**os.environ, "DATABASE_URL": source}, check=True,
        )  # fmt: skip
    if (BENCH / "EXPORT.md").exists():
        export = (BENCH / "EXPORT.md").read_text().split("\n", 1)[1]
    write_results(
        Path(options.output), results, checks, started_at, seconds, options.repeat, export
    )
    failed = [check for check in checks if not check.passed]
    if failed:
        for check in failed:
            log(f"CHECK {check}")
        raise SystemExit(1)
    log(f"all checks passed; results in {options.output}")


def ceiling_of(number: str) -> str:
    """The scenario a scenario is compared with: the bare INSERT (7) for signing and
    confirming, the static file (6) for every page; the ceilings themselves have none."""
    return "-" if number in ("6", "7") else "7" if number in ("4", "5") else "6"


def write_results(path: Path, results: dict, checks: list[Check], started_at, seconds: int,
                  repeat: int, export: str) -> None:  # fmt: skip
    rows = []
    for key in sorted(results, key=lambda k: (k.split("|")[0], int(k.split("|")[1]))):
        name, clients = key.split("|")
        figures = results[key]
        number = name.split()[0]
        ceiling_key = next(
            (k for k in results if k.startswith(ceiling_of(number) + " ")
             and k.endswith(f"|{clients}")), None,
        )  # fmt: skip
        ratio = (
            f"{figures['per_second'] / results[ceiling_key]['per_second']:.0%}"
            if ceiling_key
            else "(ceiling)"
        )
        each = ", ".join(f"{value:,.0f}" for value in figures["runs"])
        rows.append(
            f"| {name} | {clients} | {figures['per_second']:,.0f}/s | {each} | "
            f"{figures['p50']:.1f} | {figures['p95']:.1f} | {figures['p99']:.1f} | "
            f"{figures['errors_all']} | {ratio} |"
        )
    check_rows = []
    for check in checks:
        # Each check compares two values: what the database holds, and what it should.
        stored, expected = check.values.values()
        verdict = "ok" if check.passed else "FAILED"
        check_rows.append(f"| {check.name} | {stored:,} | {expected:,} | {verdict} |")
    target_rows = targets(results, checks)
    path.write_text(
        "# Benchmark results\n\n"
        f"Measured by `make bench` (bench/run.py) on {started_at:%Y-%m-%d %H:%M} UTC.\n\n"
        f"- Machine: {machine()}; the load generators run on the same two cores.\n"
        f"- Site: gunicorn with gunicorn.conf.py (defaults), Django {django_version()}, "
        f"PostgreSQL {postgres_version()}, Redis cache; DEBUG off; {seconds} s per run after "
        "a 2 s warm-up (wrk runs).\n"
        "- Load generators: wrk for pages, count.json, the static file and signing "
        "(bench/wrk/signing.lua, one thread per simulated browser); bench/signing.py (aiohttp) "
        "for confirming mixed with signing; pgbench for the bare INSERT.\n"
        "- Signing throughput is signatures per second (each one a GET of the form and a "
        "POST); its latencies are per request. Other throughputs are requests per second.\n"
        f"- Every scenario ran in {repeat} rounds, one scenario after another in each round, "
        "so that a burst of noise from the machine's neighbours touches one run: the table "
        "gives the run with the median throughput and its latencies, the throughput of each "
        "run, and the errors of all runs.\n"
        "- Ratio: the scenario's median throughput over its ceiling's at the same concurrency, "
        "measured in the same rounds: 6 (a static file through the same gunicorn) for pages, "
        "7 (a bare INSERT through pgbench) for signing and confirming.\n\n"
        "## Targets (at 64 clients)\n\n| target | measured | |\n| --- | --- | --- |\n"
        + "\n".join(target_rows)
        + "\n\nHow the figures got there, with the profiles: [PROFILE.md](PROFILE.md).\n\n"
        "## Every figure\n\n"
        "| scenario | clients | median | each run | p50 ms | p95 ms | p99 ms | errors | ratio |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        + "\n".join(rows)
        + "\n\n## Nothing lost\n\n| check | stored | expected | |\n| --- | ---: | ---: | --- |\n"
        + "\n".join(check_rows)
        + "\n\n## Export\n"
        + export,
        encoding="utf-8",
    )


def targets(results: dict, checks: list[Check]) -> list[str]:
    def figure(name: str) -> dict | None:
        return next((v for k, v in results.items() if k == f"{name}|64"), None)

    def row(target: str, measured: str, met: bool) -> str:
        return f"| {target} | {measured} | {'met' if met else '**missed**'} |"

    rows = []
    signing = figure("4 signing")
    if signing:
        lost = any(not check.passed for check in checks)
        rows.append(row(
            "signing: 400/s, p99 < 250 ms, no errors, nothing lost",
            f"{signing['per_second']:,.0f}/s, p99 {signing['p99']:.0f} ms, "
            f"{signing['errors_all']} errors, {'losses' if lost else 'nothing lost'}",
            signing["per_second"] >= 400 and signing["p99"] < 250
            and not signing["errors_all"] and not lost,
        ))  # fmt: skip
    static = figure("6 static file")
    for name in ("1a home page", "1b story page", "1c home page, Russian"):
        page = figure(name)
        if page and static:
            ratio = page["per_second"] / static["per_second"]
            rows.append(row(f"{name[3:]}: 60% of the static file", f"{ratio:.0%}", ratio >= 0.6))
    count = figure("3 count.json")
    if count:
        rows.append(row("count.json: 2,000/s", f"{count['per_second']:,.0f}/s",
                        count["per_second"] >= 2000))  # fmt: skip
    confirming = figure("5 confirming (with signing)")
    beside = figure("5 signing (with confirming)")
    if confirming and beside:
        ratio = confirming["per_second"] / beside["per_second"]
        rounds = ", ".join(
            f"{c / s:.0%}" for c, s in zip(confirming["runs"], beside["runs"], strict=True)
        )
        # Confirmed rows = acknowledged confirmations, and the tally = those rows.
        exact = all(check.passed for check in checks if "confirmed rows" in check.name)
        rows.append(row(
            "confirming: 80% of the signing beside it, no errors, confirmed rows = confirm "
            "successes, count = confirmed rows",
            f"{ratio:.0%} ({confirming['per_second']:,.0f}/s against "
            f"{beside['per_second']:,.0f}/s; each round {rounds}), "
            f"{confirming['errors_all'] + beside['errors_all']} errors, "
            f"{'both equal after every round' if exact else 'a difference'}",
            ratio >= 0.8 and not confirming["errors_all"] and not beside["errors_all"]
            and exact,
        ))  # fmt: skip
    return rows


def django_version() -> str:
    import django

    return django.get_version()


def postgres_version() -> str:
    """From pgbench's "pgbench (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"."""
    output = subprocess.run(["pgbench", "--version"], capture_output=True, text=True).stdout
    found = re.search(r"\(PostgreSQL\) (\S+)", output)
    return found.group(1) if found else "?"


if __name__ == "__main__":
    main()

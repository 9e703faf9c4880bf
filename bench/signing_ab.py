"""Signing throughput of an earlier commit against this checkout, on this machine, in one run.

`make bench-signing-ab` (BEFORE=<commit>; by default the last commit before signer data was
sealed) checks the earlier commit out beside this one, serves each from its own gunicorn and
scratch database in production form, and signs on both with bench/wrk/signing.lua, as
`make bench` does (scenario 4). The machine's speed drifts by a third between runs a few
minutes apart (bench/RESULTS.md), more than a change of a few per cent, so the two are never
compared across runs: each round signs on both, one after the other, in an order that turns
round by round, and the figure that counts is the ratio of everything signed over the same
rounds. Results in bench/SIGNING_AB.md.

The earlier commit runs with this checkout's Python packages (it needs none that are gone).
"""

import argparse
import datetime as dt
import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from harness import (
    BASE,
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
    wrk_signing,
)

# The last commit before names and addresses were sealed, receipts drawn and the request
# metrics, ids and compression added to every request.
BEFORE = "486e7ff"
CONCURRENCY = (16, 64)
HEADER = (
    "| clients | before: each run (signings/s) | this: each run | before: median "
    "| this: median | this against before, all signed |\n"
    "| --- | --- | --- | ---: | ---: | ---: |"
)


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=BASE, check=True, capture_output=True, text=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=os.environ.get("BEFORE") or BEFORE)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=10, help="per run")
    parser.add_argument("--output", default=str(BENCH / "SIGNING_AB.md"))
    options = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    before = git("rev-parse", "--short", options.before)
    this = git("rev-parse", "--short", "HEAD")
    changed = bool(git("status", "--porcelain", "--untracked-files=no"))
    worktree = Path(tempfile.mkdtemp(prefix="campaign-before-"))
    git("worktree", "add", "--detach", "--force", str(worktree), before)
    source = source_database_url()
    sites: dict[str, Site] = {}
    dbs: dict[str, Database] = {}
    databases: list[tuple[str, str]] = []
    try:
        for index, (name, base) in enumerate((("before", worktree), ("this", BASE))):
            db_url, admin_url, db_name = scratch_database(source, f"ab_{name}")
            recreate(admin_url, db_name)
            databases.append((admin_url, db_name))
            cache_url = f"redis://127.0.0.1:6379/{8 + index}"
            subprocess.run(["redis-cli", "-u", cache_url, "FLUSHDB"], check=True,
                           capture_output=True)  # fmt: skip
            env = production_env(db_url=db_url, cache_url=cache_url,
                                 secret=secrets.token_urlsafe(50))  # fmt: skip
            site = Site(env, free_port(), name=f"gunicorn-{name}", base=base)
            log(f"setting up {name} ({before if name == 'before' else this}) in {db_name}")
            site.set_up()
            site.start()
            dbs[name] = Database(db_url)
            sites[name] = site

        runs: dict[tuple[str, int], list[dict]] = {}
        names = list(sites)
        for round_ in range(options.rounds):
            order = names[round_ % 2 :] + names[: round_ % 2]
            for clients in CONCURRENCY:
                for name in order:
                    site = sites[name]
                    log(f"round {round_ + 1} of {options.rounds}: {name} at {clients} clients")
                    run = wrk_signing(site.url, dbs[name].slug(), clients, options.seconds,
                                      prefix=f"ab{round_}c{clients}{name}")  # fmt: skip
                    runs.setdefault((name, clients), []).append(run)
        stored = {name: db.signatures() for name, db in dbs.items()}
    finally:
        for site in sites.values():
            site.stop()
        for db in dbs.values():
            db.conn.close()
        for admin_url, db_name in databases:
            recreate(admin_url, db_name, drop_only=True)
        git("worktree", "remove", "--force", str(worktree))

    write(Path(options.output), options, runs, stored, before=before,
          this=this + (" with uncommitted changes" if changed else ""))  # fmt: skip


def write(path: Path, options, runs, stored, *, before: str, this: str) -> None:
    def signed(name: str, clients: int | None = None) -> int:
        return sum(
            run["ok"] for (who, c), found in runs.items() if who == name
            if clients in (None, c) for run in found
        )  # fmt: skip

    rows = []
    for clients in CONCURRENCY:
        b, t = runs[("before", clients)], runs[("this", clients)]
        rate = {n: [run["per_second"] for run in r] for n, r in (("before", b), ("this", t))}
        rows.append(
            f"| {clients} | {', '.join(f'{x:,.0f}' for x in rate['before'])} "
            f"| {', '.join(f'{x:,.0f}' for x in rate['this'])} "
            f"| {statistics.median(rate['before']):,.0f} | {statistics.median(rate['this']):,.0f} "
            f"| {signed('this', clients) / signed('before', clients) - 1:+.1%} |"
        )
    pairs = [
        this_run["per_second"] / before_run["per_second"] - 1
        for clients in CONCURRENCY
        for before_run, this_run in zip(
            runs[("before", clients)], runs[("this", clients)], strict=True
        )
    ]
    failed = sum(run["failed"] for found in runs.values() for run in found)
    overall = signed("this") / signed("before") - 1
    checks = "; ".join(
        f"{name}: {stored[name]:,} stored = {signed(name):,} acknowledged "
        f"({'ok' if stored[name] == signed(name) else 'MISMATCH'})"
        for name in ("before", "this")
    )
    path.write_text(
        f"""# Signing, before and after, in the same run

Measured by `bench/signing_ab.py` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (rerun:
`make bench-signing-ab`; `BEFORE=<commit>` compares with another commit).

- before: `{before}`; this: `{this}`. Each is served by its own gunicorn (production settings,
  this checkout's packages) from its own scratch PostgreSQL database, and signed on through
  bench/wrk/signing.lua as `make bench` does.
- {options.rounds} rounds of {options.seconds} s a run: in each round both sign at each
  concurrency, one after the other, the first of the two changing every round.

{HEADER}
{chr(10).join(rows)}

Over every round, this checkout signed **{overall:+.1%}** against the earlier commit
({signed("this"):,} signings against {signed("before"):,} in the same time); run against run
in the same round, from {min(pairs):+.0%} to {max(pairs):+.0%}. Runs minutes apart on this
machine differ by more than the two checkouts do, which is why only the rounds' totals are
compared.

Refused or failed signings: {failed}. {checks}.

- Machine: {machine()}; load generator on the same cores.
""",
        encoding="utf-8",
    )
    log(f"written to {path}")


if __name__ == "__main__":
    main()

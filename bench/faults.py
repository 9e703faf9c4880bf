"""The fault suite: `make faults`.

Runs the site in its production form on this machine (two gunicorn instances on two ports,
sharing one scratch PostgreSQL database and Redis; the email worker as its own process; an SMTP
server of its own), breaks things during signing load, and checks that nothing acknowledged was
lost or duplicated. Every request goes to 127.0.0.1; every step is bounded in time.

Restarting PostgreSQL and Redis uses the commands of this machine's Debian services
(pg_ctlcluster, redis-server) and needs root; where they are missing those scenarios are
reported as skipped, and whatever happens the suite leaves both running again. The cluster
stopped is the machine's main one unless FAULTS_PG_CLUSTER names another ("15/faults", with
DATABASE_URL pointing at its port and FAULTS_CACHE_URL at another Redis), so that scenarios can be
tried (--only) without stopping services others use. Each scenario prints what it did, each of
its named checks with the values compared, and its figures. The results go to bench/FAULTS.md
whatever happens: a scenario that raises is recorded as failed, with the exception as a failed
check, and the next scenarios still run (or, when the services or the web instances do not come
back, are recorded as not run). The suite exits non-zero on any
failed check: a loss, a duplicate, a server error other than a calm 503, and the rest.
"""

import argparse
import asyncio
import datetime as dt
import email
import hashlib
import itertools
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

import aiohttp
import redis
from aiosmtpd.controller import Controller
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
)  # fmt: skip
from signing import form_data

SLUG = "protect-human-rights-defenders"
SPOOL_ENTRIES = "petitions:spool:entries"  # petitions.spool's list
SIGN_LIMIT = 10  # RATE_LIMIT_SIGN's burst, as in production: 10 a minute per client


def say(message: str) -> None:
    log(message, prefix="faults")


def postgres_version() -> str | None:
    """This machine's Debian PostgreSQL cluster, if pg_ctlcluster can drive it."""
    etc = Path("/etc/postgresql")
    versions = sorted(os.listdir(etc)) if etc.is_dir() else []
    return versions[-1] if versions and shutil.which("pg_ctlcluster") else None


def postgres_cluster() -> list[str] | None:
    """The cluster the scenarios stop and start, as pg_ctlcluster names it ([version, name]):
    FAULTS_PG_CLUSTER ("15/faults", for a private cluster that DATABASE_URL points at), by
    default this machine's main one."""
    named = os.environ.get("FAULTS_PG_CLUSTER", "")
    if named:
        return named.split("/", 1) if shutil.which("pg_ctlcluster") else None
    version = postgres_version()
    return [version, "main"] if version else None


def pg_ctlcluster(action: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *postgres_cluster(), action, *options],
        capture_output=True, text=True,
    )  # fmt: skip


def stop_postgres() -> float:
    """Stop PostgreSQL at once (fast shutdown); returns when it was down."""
    pg_ctlcluster("stop", "-m", "fast").check_returncode()
    return time.monotonic()


def start_services(*, check: bool = True) -> bool:
    """Start PostgreSQL and Redis if they are down, as CI does (.ci/services), and wait; and
    the cluster FAULTS_PG_CLUSTER names, if it is another."""
    done = subprocess.run([str(BASE / ".ci" / "services")], capture_output=True, text=True)
    # status: 3 when it is down; start waits until it accepts connections.
    private = os.environ.get("FAULTS_PG_CLUSTER")
    if done.returncode == 0 and private and pg_ctlcluster("status").returncode == 3:
        done = pg_ctlcluster("start")
    if check and done.returncode:
        raise RuntimeError(done.stderr.strip())
    return done.returncode == 0


class Sink:
    """An SMTP server that records what it receives and can be stopped and started again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.delay = 0.0
        self.messages: list[tuple[str, str]] = []  # (recipient, Message-ID)
        self.controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        for recipient in envelope.rcpt_tos:
            self.messages.append((recipient, str(message["Message-ID"])))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def deliveries(self, recipients: set[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for recipient, message_id in self.messages:
            if recipient in recipients:
                found.setdefault(recipient, []).append(message_id)
        return found


class Worker:
    """`manage.py send_emails` as its own process."""

    def __init__(self, env: dict) -> None:
        self.env = env
        self.process: subprocess.Popen | None = None
        self.log = open(BENCH / ".faults-worker.log", "a")  # noqa: SIM115 - for the whole run

    def start(self) -> None:
        self.process = subprocess.Popen(
            [PYTHON, "manage.py", "send_emails", "--interval", "0.2"],
            cwd=BASE, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Scenario:
    """One scenario's record: what it did, its checks with the values compared, its figures."""

    name: str
    did: str = ""
    note: str = ""
    checks: list[Check] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    skipped: str = ""  # why this machine cannot run it (not a failure)
    not_run: str = "the suite stopped before it"  # cleared when it starts

    def check(self, *checks: Check) -> None:
        self.checks.extend(checks)

    @property
    def result(self) -> str:
        if self.skipped:
            return "skipped"
        if self.not_run:
            return "not run"
        return "passed" if all(check.passed for check in self.checks) else "FAILED"

    @property
    def failed(self) -> bool:
        return self.result in ("FAILED", "not run")


def signing_checks(figures: dict) -> list[Check]:
    """What every signing load must keep: each acknowledged signing stored, once, and no server
    error other than the calm 503."""
    return [
        Check("acknowledged > 0", figures["acknowledged"] > 0,
              {"acknowledged": figures["acknowledged"]}),
        Check.equal("acknowledged == stored", acknowledged=figures["acknowledged"],
                    stored=figures["stored"]),
        Check.zero("no duplicates", duplicated=figures["duplicated"]),
        Check.zero("no 5xx", **{"5xx": figures["5xx"]}),
    ]  # fmt: skip


def no_5xx(name: str, outcomes: dict) -> Check:
    """No server error other than the calm 503, in one of bench/signing.py's summaries."""
    return Check.zero(name, **{"5xx": outcomes["errors"].get("5xx", 0)})


def in_runs(statuses: list[int]) -> str:
    """[302, 302, 429] as "302x2,429"."""
    groups = [(status, len(list(group))) for status, group in itertools.groupby(statuses)]
    return ",".join(f"{status}x{n}" if n > 1 else str(status) for status, n in groups)


class Suite:
    def __init__(self, env: dict, sites: list[Site], db: Database, sink: Sink, worker: Worker):
        self.env, self.sites, self.db, self.sink, self.worker = env, sites, db, sink, worker
        self.bases = [site.url for site in sites]
        self.load: list[subprocess.Popen] = []

    # Load -------------------------------------------------------------------------------------

    def signing(self, *, seconds: float, signers: int, prefix: str, confirmers: int = 0,
                links: Path | None = None) -> subprocess.Popen:  # fmt: skip
        command = signing_command(
            self.bases, SLUG, signers=signers, seconds=seconds, prefix=prefix,
            confirmers=confirmers, links=links, acknowledged=BENCH / f".faults-{prefix}.json",
        )  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.load.append(process)
        return process

    def finish(self, process: subprocess.Popen, prefix: str) -> tuple[dict, list[str], list[str]]:
        """bench/signing.py's figures, and the signings (addresses) and confirmations (tokens)
        the site acknowledged."""
        output, _ = process.communicate(timeout=300)
        if process.returncode:
            raise RuntimeError(f"bench/signing.py --prefix {prefix} exited {process.returncode}")
        acknowledged_file = BENCH / f".faults-{prefix}.json"
        acknowledged = json.loads(acknowledged_file.read_text())
        acknowledged_file.unlink()
        return json.loads(output), acknowledged["signings"], acknowledged["confirmations"]

    def signed(self, process: subprocess.Popen, prefix: str, *,
               spooled_within: float = 0) -> tuple[dict, list[str]]:  # fmt: skip
        """The figures of a signing load, and the addresses the site acknowledged. With
        `spooled_within`, read once the spool is empty and every acknowledged address stored, or
        that many seconds have passed: the email worker writes the signings spooled while the
        database was away once it is back (petitions.spool)."""
        outcomes, signings, _ = self.finish(process, prefix)
        if spooled_within:
            everything = set(signings)

            def written() -> bool:
                return self.spooled() == 0 and len(self.db.stored(signings)) == len(everything)

            self.wait(written, spooled_within)
        stored = self.db.stored(signings)
        errors = outcomes["sign"]["errors"]
        figures = {
            "acknowledged": len(signings),
            "stored": len(stored),
            "lost": len(set(signings) - stored),
            "duplicated": self.db.duplicates(),
            "5xx": errors.get("5xx", 0),
            "503": errors.get("503", 0),
            "cut off": errors.get("connection", 0),
        }
        return figures, signings

    def spooled(self) -> int:
        """Signings waiting in the spool (petitions.spool: the instances' Redis)."""
        return redis.Redis.from_url(self.env["CACHE_URL"]).llen(SPOOL_ENTRIES)

    def stop_load(self) -> None:
        """Stop whatever load a scenario left running, and its files."""
        for process in self.load:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        self.load.clear()
        for leftover in [*BENCH.glob(".faults-*.json"), *BENCH.glob(".faults-*.txt")]:
            leftover.unlink()

    def recover(self) -> str:
        """After a scenario raised: stop its load and bring back what it may have stopped.
        Returns what is still broken, or "" when the next scenario can run."""
        try:
            self.stop_load()
            if not start_services(check=False):
                return "PostgreSQL or Redis did not start again"
            self.db.reconnect(30)
            self.sink.delay = 0.0
            if not self.sink.controller:
                self.sink.start()
            if not self.worker.process or self.worker.process.poll() is not None:
                self.worker.start()
            if not self.wait(lambda: all(self.health(b) == 200 for b in self.bases), 30):
                return "the web instances did not answer /healthz with 200 again"
        except Exception as error:
            return f"recovering raised {type(error).__name__}: {' '.join(str(error).split())}"
        return ""

    # Probes -----------------------------------------------------------------------------------

    async def sign_once(self, session, form_base: str, post_base: str, email_address: str,
                        address: str) -> int:  # fmt: skip
        """The status of the form's POST; of its GET if that failed (0: a page without a form)."""
        headers = {"X-Forwarded-For": address}
        session.cookie_jar.clear()
        async with session.get(f"{form_base}/petitions/{SLUG}/", headers=headers) as response:
            body = await response.text()
        data = form_data(body, first_name="Probe", last_name="Signer", email=email_address,
                         country="NL")  # fmt: skip
        if response.status != 200 or not data:
            return response.status if response.status != 200 else 0
        async with session.post(f"{post_base}/petitions/{SLUG}/sign/", data=data,
                                headers=headers, allow_redirects=False) as response:  # fmt: skip
            return response.status

    async def sign_across_outage(self, stop_database) -> tuple[float, str]:
        """A browser that loaded the form while the database was up submits it while the
        database is away: the signing must be taken (spooled) and the POST answered with "check
        your inbox". Returns when the database stopped, and what the POST got."""
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            headers = {"X-Forwarded-For": "192.0.2.200"}
            async with session.get(f"{self.bases[1]}/petitions/{SLUG}/", headers=headers) as r:
                body = await r.text()
            data = form_data(body, first_name="Down", last_name="Time",
                             email="down@faults.example", country="NL")  # fmt: skip
            down_at = stop_database()
            if not data:
                return down_at, f"form {r.status}"
            await asyncio.sleep(1)
            async with session.post(f"{self.bases[1]}/petitions/{SLUG}/sign/", data=data,
                                    headers=headers, allow_redirects=False) as r:  # fmt: skip
                text = await r.text()
                if r.status == 302 and r.headers["Location"].endswith("/check-your-inbox/"):
                    return down_at, f"{r.status} (check your inbox)"
                calm = "cannot reach its database" in text and "Traceback" not in text
                return down_at, f"{r.status} ({'the database page' if calm else 'another page'})"

    def burst_limit(self, label: str, name: str) -> Check:
        """One client address, alternating instances: the burst limit must hold across both."""

        async def probe() -> list[int]:
            address = f"198.51.100.{random.randrange(1, 250)}"
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
                return [
                    await self.sign_once(s, self.bases[n % 2], self.bases[n % 2],
                                         f"{label}-limit-{n}@faults.example", address)
                    for n in range(SIGN_LIMIT + 4)
                ]  # fmt: skip

        statuses = asyncio.run(probe())
        held = statuses[:SIGN_LIMIT] == [302] * SIGN_LIMIT and set(statuses[SIGN_LIMIT:]) == {429}
        return Check(name, held, {"statuses": in_runs(statuses)})

    def count_check(self) -> Check:
        return Check.equal("count == confirmed", count=self.db.count(),
                           confirmed=self.db.confirmed())  # fmt: skip

    def count_from(self, base: str) -> int:
        url = f"{base}/petitions/{SLUG}/count.json?fresh={secrets.token_hex(4)}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)["count"]

    def status(self, url: str) -> int:
        """The status of a GET; 0 when nothing answered."""
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    def health(self, base: str) -> int:
        return self.status(f"{base}/healthz")

    def wait(self, condition, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.25)
        return False

    def drain(self, seconds: float = 180) -> bool:
        """Wait until the worker has sent every email the earlier scenarios queued."""
        return self.wait(lambda: self.db.emails_due() == 0, seconds)

    # Scenarios: each records into its Scenario as it goes, so that what it checked before
    # anything raised is kept. -----------------------------------------------------------------

    def two_instances(self, record: Scenario) -> None:
        record.did = (
            "signed from 24 clients for 8 s, then confirmed pending signatures from 16 clients "
            "for 6 s, each client alternating between the two instances; then sent one client's "
            f"{SIGN_LIMIT + 4} signings alternately to each instance"
        )
        figures, _signings = self.signed(self.signing(seconds=8, signers=24, prefix="f1"), "f1")
        record.figures.update(figures)
        record.check(*signing_checks(figures))
        links = BENCH / ".faults-links.txt"
        confirm_tokens(self.env, self.db.pending_ids(300), links)
        process = self.signing(seconds=6, signers=0, confirmers=16, prefix="f1c", links=links)
        outcomes, _signings, confirmations = self.finish(process, "f1c")
        links.unlink()
        counts = [self.count_from(base) for base in self.bases]
        confirmed = self.db.confirmed()
        record.figures.update({"confirmations acknowledged": len(confirmations),
                               "confirmed": confirmed, "count.json": counts})  # fmt: skip
        record.check(
            no_5xx("no 5xx while confirming", outcomes["confirm"]),
            Check.equal("count.json == confirmed, from both instances",
                        **{"count.json a": counts[0], "count.json b": counts[1]},
                        confirmed=confirmed),
            self.count_check(),
            self.burst_limit("f1", "burst limit held across instances"),
        )  # fmt: skip

    def killed_workers(self, record: Scenario) -> None:
        record.did = (
            "signed from 32 clients for 12 s on both instances while a random worker was "
            "SIGKILLed every 2 s; a cut-off request must get a connection error, not a success"
        )
        process = self.signing(seconds=12, signers=32, prefix="f2")
        kills = 0
        deadline = time.monotonic() + 11
        time.sleep(1)
        while time.monotonic() < deadline:
            site = random.choice(self.sites)
            workers = site.workers()
            if workers:
                os.kill(random.choice(workers), signal.SIGKILL)
                kills += 1
            time.sleep(2)
        record.figures["kills"] = kills
        figures, _signings = self.signed(process, "f2")
        record.figures = {**figures, "kills": kills}
        record.check(*signing_checks(figures))

    def postgres_restart(self, record: Scenario) -> None:
        if not postgres_cluster():
            record.skipped = "no pg_ctlcluster here"
            return
        record.did = (
            "signed from 24 clients for 16 s; stopped PostgreSQL (fast) after 4 s, posted a form "
            "loaded before the outage, started PostgreSQL again, waited for the signings spooled "
            "meanwhile to reach it; then signed from 8 clients for 3 s without restarting the web "
            "instances"
        )
        process = self.signing(seconds=16, signers=24, prefix="f3")
        time.sleep(4)
        down_at, down_page = asyncio.run(self.sign_across_outage(stop_postgres))
        health_down = self.health(self.bases[0])
        time.sleep(3)
        start_services()
        outage = time.monotonic() - down_at
        self.db.reconnect()
        back = self.wait(lambda: all(self.health(b) == 200 for b in self.bases), 30)
        record.figures["outage s"] = round(outage, 1)
        record.check(
            Check("/healthz 503 while down", health_down == 503, {"healthz": health_down}),
            Check("a form posted while down was taken: check your inbox",
                  down_page == "302 (check your inbox)", {"response": down_page}),
            Check("/healthz 200 again within 30 s", back,
                  {"healthz": [self.health(b) for b in self.bases]}),
        )  # fmt: skip
        figures, _signings = self.signed(process, "f3", spooled_within=60)
        record.figures = {**figures, **record.figures}
        record.check(*signing_checks(figures))
        resumed, _signings = self.signed(self.signing(seconds=3, signers=8, prefix="f3b"), "f3b")
        record.figures["acknowledged after"] = resumed["acknowledged"]
        record.check(
            Check("signing resumed by itself", resumed["acknowledged"] > 0,
                  {"acknowledged after": resumed["acknowledged"]}),
            Check.zero("no 5xx or 503 after", **{"5xx": resumed["5xx"], "503": resumed["503"]}),
        )  # fmt: skip

    def redis_stopped(self, record: Scenario) -> None:
        if not shutil.which("redis-server"):
            record.skipped = "no redis-server here"
            return
        record.did = (
            "stopped Redis, signed from 24 clients for 6 s on both instances, read pages, "
            "started Redis again"
        )

        def log_lines() -> int:
            return sum(
                site.log_path.read_text().count("Rate limits are off") for site in self.sites
            )

        before = log_lines()
        subprocess.run(["redis-cli", "shutdown", "nosave"], capture_output=True)
        figures, _signings = self.signed(self.signing(seconds=6, signers=24, prefix="f4"), "f4")
        healthz = [self.health(b) for b in self.bases]
        home = self.status(f"{self.bases[0]}/")
        warnings = log_lines() - before
        record.figures = {**figures, "warnings": warnings}
        record.check(
            *signing_checks(figures),
            Check("home page 200", home == 200, {"home page": home}),
            Check("/healthz 200 on both instances", healthz == [200, 200], {"healthz": healthz}),
        )
        start_services()
        record.check(self.burst_limit("f4", "burst limit held again once Redis was back"))
        workers = sum(len(site.workers()) for site in self.sites)
        record.check(
            Check("outage logged once per worker, not per request", 0 < warnings <= workers,
                  {"logged": warnings, "workers": workers}),
        )  # fmt: skip

    def smtp_down(self, record: Scenario) -> None:
        record.did = (
            "sent the emails queued by the earlier scenarios; stopped the SMTP server, signed "
            "from 16 clients for 4 s, waited, started it again"
        )
        backlog = self.db.emails_due()
        self.drain()
        due = self.db.emails_due()
        record.check(Check("earlier emails sent first", due == 0, {"queued": backlog, "due": due}))
        self.sink.stop()
        figures, signings = self.signed(self.signing(seconds=4, signers=16, prefix="f5"), "f5")
        emails = set(signings)
        record.figures.update(figures)
        record.check(*signing_checks(figures))
        self.wait(lambda: self.db.emails_due(emails, attempted=True) == len(emails), 30)
        waiting = self.db.emails_due(emails, attempted=True)
        delivered_while_down = len(self.sink.deliveries(emails))
        self.sink.start()
        self.wait(lambda: self.db.emails_due(emails) == 0, 90)
        due = self.db.emails_due(emails)
        deliveries = self.sink.deliveries(emails)
        record.check(
            Check.equal("every email waiting, its failed attempt counted",
                        waiting=waiting, acknowledged=len(emails)),
            Check.zero("nothing delivered while down", delivered=delivered_while_down),
            Check.zero("outbox drained once the server was back", due=due),
            Check.zero("one email per signer", missing=len(emails - set(deliveries)),
                       twice=sum(len(ids) > 1 for ids in deliveries.values())),
        )  # fmt: skip

    def worker_killed(self, record: Scenario) -> None:
        record.did = (
            "stopped the email worker, queued emails by signing from 16 clients for 3 s, started "
            "the worker, SIGKILLed it after 1.5 s, started it again"
        )
        record.note = (
            "a delivery repeated with the same Message-ID is possible only if the kill lands "
            "between the SMTP server's acceptance and the commit; it is counted, not failed"
        )
        self.worker.stop()
        figures, signings = self.signed(self.signing(seconds=3, signers=16, prefix="f6"), "f6")
        emails = set(signings)
        record.figures.update(figures)
        record.check(*signing_checks(figures))
        self.sink.delay = 0.005
        self.worker.start()
        time.sleep(1.5)
        self.worker.kill()
        record.figures["sent before the kill"] = len(self.sink.deliveries(emails))
        self.worker.start()
        self.wait(lambda: self.db.emails_due(emails) == 0, 180)
        self.sink.delay = 0.0
        deliveries = self.sink.deliveries(emails)
        record.figures["same Message-ID twice"] = sum(
            len(ids) > len(set(ids)) for ids in deliveries.values()
        )
        record.check(
            Check.zero("outbox drained", due=self.db.emails_due(emails)),
            Check.zero("one email per signer (the same one repeated aside)",
                       missing=len(emails - set(deliveries)),
                       different=sum(len(set(ids)) > 1 for ids in deliveries.values())),
        )  # fmt: skip

    def same_email(self, record: Scenario) -> None:
        record.did = (
            "32 clients on both instances sent the same address in different letter cases at "
            "the same moment; then its confirmation link was pressed on both instances at once"
        )
        before = self.db.confirmed()
        address = "Twin.Signer@Faults.Example"

        async def race() -> list[int]:
            async def one(n: int) -> int:
                variant = "".join(random.choice((c.lower(), c.upper())) for c in address)
                async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
                    await gate.wait()
                    return await self.sign_once(s, self.bases[n % 2], self.bases[(n + 1) % 2],
                                                variant, f"203.0.113.{n + 1}")  # fmt: skip

            gate = asyncio.Event()
            tasks = [asyncio.create_task(one(n)) for n in range(32)]
            await asyncio.sleep(0.2)
            gate.set()
            return await asyncio.gather(*tasks)

        statuses = asyncio.run(race())
        ids = self.db.signature_ids(address.lower())
        # One address, however many times the site acknowledged it.
        acknowledged, stored = int(302 in statuses), len(self.db.stored([address.lower()]))
        record.figures = {
            "acknowledged": acknowledged, "stored": stored, "lost": acknowledged - stored,
            "duplicated": self.db.duplicates(),
            "5xx": sum(status >= 500 and status != 503 for status in statuses),
            "redirects": statuses.count(302),
        }  # fmt: skip
        record.check(
            Check("every response the redirect to check your inbox", set(statuses) == {302},
                  {"statuses": in_runs(sorted(statuses))}),
            Check("one row for the address", len(ids) == 1, {"rows": len(ids)}),
        )  # fmt: skip
        if not ids:
            return
        links = BENCH / ".faults-twin.txt"
        confirm_tokens(self.env, [ids[0], ids[0]], links)
        process = self.signing(seconds=3, signers=0, confirmers=2, prefix="f7", links=links)
        outcomes, _signings, confirmations = self.finish(process, "f7")
        links.unlink()
        added = self.db.confirmed() - before
        record.figures["confirmations acknowledged"] = len(confirmations)
        record.check(
            Check("confirmed once", added == 1, {"confirmed added": added}),
            self.count_check(),
            no_5xx("no 5xx while confirming", outcomes["confirm"]),
        )

    def reload(self, record: Scenario) -> None:
        record.did = (
            "signed from 24 clients for 16 s on both instances; after 3 s and again after 9 s, "
            "sent SIGHUP to both gunicorn masters at once (the graceful reload of `make "
            "release`) and waited until every old worker had gone and as many new ones served"
        )
        process = self.signing(seconds=16, signers=24, prefix="f8")
        load_began = time.monotonic()
        rounds: list[dict] = []
        for start in (3, 9):
            time.sleep(max(load_began + start - time.monotonic(), 0))
            old = {site.url: set(site.workers()) for site in self.sites}
            began = time.monotonic()
            for site in self.sites:
                os.kill(site.process.pid, signal.SIGHUP)

            def replaced(old=old) -> bool:
                for site in self.sites:
                    now = set(site.workers())
                    if now & old[site.url] or len(now) != len(old[site.url]):
                        return False
                return True

            done = self.wait(replaced, 40)
            rounds.append({"replaced": done, "seconds": round(time.monotonic() - began, 1)})
        figures, _signings = self.signed(process, "f8")
        healthz = [self.health(b) for b in self.bases]
        record.figures = {
            **figures,
            "reloads": 2 * len(self.sites),
            "s until old workers gone": [r["seconds"] for r in rounds],
        }
        record.check(
            *signing_checks(figures),
            Check.zero("no connection errors", **{"cut off": figures["cut off"]}),
            Check.zero("no 503", **{"503": figures["503"]}),
            Check("every worker replaced, each time", all(r["replaced"] for r in rounds),
                  {"replaced": [r["replaced"] for r in rounds]}),
            Check("/healthz 200 on both instances after", healthz == [200, 200],
                  {"healthz": healthz}),
        )  # fmt: skip

    def restore_drill(self, record: Scenario) -> None:
        if not (shutil.which("age") and shutil.which("age-keygen")):
            record.skipped = "age is not installed (apt-get install age)"
            return
        record.did = (
            "signed from 16 clients for 10 s and confirmed from 8 for 3 s; then, while 16 clients "
            "signed and 8 confirmed for 30 s, took `manage.py backup` (pg_dump into age) after "
            "3 s; restored it with `manage.py restore` into a new database, and started a "
            "third instance on it"
        )
        work = Path(tempfile.mkdtemp(prefix="faults-restore-"))
        restored_url, admin_url, restored_name = scratch_database(self.db.url, "restored")
        restored_env = {**self.env, "DATABASE_URL": restored_url,
                        "CACHE_URL": f"filecache://{work / 'cache'}"}  # fmt: skip
        site = None
        try:
            identity = work / "identity.txt"
            subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
            public_key = subprocess.run(["age-keygen", "-y", str(identity)], check=True,
                                        capture_output=True, text=True).stdout.strip()  # fmt: skip
            # Before the dump: signings, and confirmations of some, that the site acknowledged.
            process = self.signing(seconds=10, signers=16, prefix="f9a")
            before, signings = self.signed(process, "f9a")
            links = BENCH / ".faults-links.txt"
            confirm_tokens(self.env, self.db.pending_ids(150), links)
            process = self.signing(seconds=3, signers=0, confirmers=8, prefix="f9b", links=links)
            confirming, _signings, _confirmations = self.finish(process, "f9b")
            confirmed_before = {row[0] for row in self.db.conn.execute(
                "SELECT id FROM petitions_signature WHERE status = 'confirmed'")}  # fmt: skip
            # The dump, while signing and confirming go on.
            confirm_tokens(self.env, self.db.pending_ids(400), links)
            process = self.signing(seconds=30, signers=16, confirmers=8, prefix="f9c", links=links)
            time.sleep(3)
            began = time.monotonic()
            self.sites[0].manage("backup", "--recipient", public_key, "--output", str(work / "b"))
            dump_seconds = time.monotonic() - began
            signing_throughout = process.poll() is None
            during, _during_signings = self.signed(process, "f9c")
            links.unlink()
            [backup] = (work / "b").glob("*.dump.age")
            data = backup.read_bytes()
            checksum = backup.with_name(backup.name + ".sha256").read_text().split()[0]

            recreate(admin_url, restored_name)
            began = time.monotonic()
            self.sites[0].manage("restore", str(backup), "--identity", str(identity),
                                 "--database-url", restored_url)  # fmt: skip
            restore_seconds = time.monotonic() - began
            restored = Database(restored_url, self.env["SIGNER_LOOKUP_KEY"])
            try:
                kept = restored.stored(signings)
                still_confirmed = {row[0] for row in restored.conn.execute(
                    "SELECT id FROM petitions_signature WHERE status = 'confirmed' AND "
                    "id = ANY(%s)", (list(confirmed_before),))}  # fmt: skip
                count, confirmed = restored.count(), restored.confirmed()
                rows = restored.signatures()
            finally:
                restored.conn.close()
            recount = subprocess.run(
                [PYTHON, "manage.py", "recount_signatures"], cwd=BASE, env=restored_env,
                capture_output=True, text=True, check=True,
            ).stdout.splitlines()  # fmt: skip
            site = Site(restored_env, free_port(), name="faults-restored")
            site.start()
            page = self.status(f"{site.url}/petitions/{SLUG}/")
            served = self.count_from(site.url)
        finally:
            if site:
                site.stop()
            recreate(admin_url, restored_name, drop_only=True)
            shutil.rmtree(work, ignore_errors=True)
        record.figures = {
            "acknowledged": before["acknowledged"], "stored": len(kept),
            "lost": before["acknowledged"] - len(kept), "duplicated": before["duplicated"],
            "5xx": before["5xx"] + during["5xx"],
            "confirmed before the dump": len(confirmed_before),
            "signings acknowledged by the load around the dump": during["acknowledged"],
            "backup command s": round(dump_seconds, 1), "backup MB": round(len(data) / 1e6, 2),
            "restore s": round(restore_seconds, 1), "rows restored": rows,
        }  # fmt: skip
        record.check(
            Check("the backup ran while signing went on, start to end",
                  signing_throughout and during["acknowledged"] > 0,
                  {"load still running at its end": signing_throughout,
                   "signings acknowledged by the load": during["acknowledged"]}),
            Check.zero("no 5xx while it was taken", **{"5xx": during["5xx"]}),
            no_5xx("no 5xx while confirming before it", confirming["confirm"]),
            Check("the file is encrypted (age, no pg_dump header in clear)",
                  data.startswith(b"age-encryption.org/v1\n") and b"PGDMP" not in data,
                  {"starts": data[:21].decode(errors="replace")}),
            Check.equal("its checksum file matches", file=hashlib.sha256(data).hexdigest()[:16],
                        checksum=checksum[:16]),
            Check.equal("every signing acknowledged before the dump is restored",
                        acknowledged=before["acknowledged"], restored=len(kept)),
            Check.equal("every confirmation before the dump is restored, confirmed",
                        **{"confirmed before": len(confirmed_before),
                           "restored confirmed": len(still_confirmed)}),
            Check.equal("restored count == recount (confirmed rows)", count=count,
                        confirmed=confirmed),
            Check("recount_signatures finds every restored count correct",
                  bool(recount) and all(line.endswith("correct)") for line in recount),
                  {"recount": "; ".join(recount)}),
            Check.equal("the petition page served from the restored database", status=page,
                        expected=200),
            Check.equal("count.json from the restored database == its confirmed rows",
                        **{"count.json": served}, confirmed=confirmed),
        )  # fmt: skip

    def postgres_outage(self, record: Scenario) -> None:
        if not postgres_cluster():
            record.skipped = "no pg_ctlcluster here"
            return
        record.did = (
            "signed from 24 clients for 50 s on both instances; stopped PostgreSQL (fast) once "
            "100 signings were stored and 3 s more had passed, and started it again 30 s later; "
            "waited for the signings spooled meanwhile to reach the database (at most 60 s from "
            "its return) and for every signer's email"
        )
        before = self.db.signatures()
        record.note = (
            "a delivery repeated with the same Message-ID is possible only if PostgreSQL stops "
            "between the SMTP server's acceptance of an email and the worker's commit (as in "
            "scenario 6); it is counted, not failed"
        )
        process = self.signing(seconds=50, signers=24, prefix="f10")
        # Every web worker has shown the form by then: a worker keeps what the form needs.
        self.wait(lambda: self.db.signatures() >= before + 100, 30)
        time.sleep(3)
        down_at = stop_postgres()
        time.sleep(2)
        health_down = self.health(self.bases[0])
        time.sleep(max(down_at + 30 - time.monotonic(), 0))
        spooled = self.spooled()
        start_services()
        back_at = time.monotonic()
        self.db.reconnect()
        drained = self.wait(lambda: self.spooled() == 0, 60)
        drained_after = time.monotonic() - back_at
        figures, signings = self.signed(
            process, "f10", spooled_within=max(back_at + 60 - time.monotonic(), 1)
        )
        stored_after = time.monotonic() - back_at
        everything = set(signings)
        self.wait(lambda: self.db.emails_due(everything) == 0, 300)
        deliveries = self.sink.deliveries(everything)
        record.figures = {
            **figures, "outage s": round(back_at - down_at, 1),
            "spooled at the end of the outage": spooled,
            "spool empty s after the return": round(drained_after, 1),
            "all stored s after the return": round(stored_after, 1),
            "same Message-ID twice": sum(len(ids) > len(set(ids)) for ids in deliveries.values()),
        }  # fmt: skip
        record.check(
            Check("/healthz 503 while down", health_down == 503, {"healthz": health_down}),
            Check("signings taken while down, spooled", spooled > 0, {"spooled": spooled}),
            *signing_checks(figures),
            Check.zero("no 503: the form and signing went on", **{"503": figures["503"]}),
            Check("every acknowledged signing in the database within 60 s of its return",
                  drained and figures["lost"] == 0 and stored_after <= 60,
                  {"spool empty": drained, "lost": figures["lost"],
                   "s after the return": round(stored_after, 1)}),
            Check.zero("one email per signer (the same one repeated aside)",
                       missing=len(everything - set(deliveries)),
                       different=sum(len(set(ids)) > 1 for ids in deliveries.values())),
        )  # fmt: skip


SCENARIOS = (
    ("1. two web instances", Suite.two_instances),
    ("2. gunicorn workers killed", Suite.killed_workers),
    ("3. PostgreSQL restarted", Suite.postgres_restart),
    ("4. Redis stopped", Suite.redis_stopped),
    ("5. SMTP server down", Suite.smtp_down),
    ("6. email worker killed mid-batch", Suite.worker_killed),
    ("7. one email, 32 clients at once", Suite.same_email),
    ("8. graceful reload under signing load", Suite.reload),
    ("9. backup taken while signing, restored", Suite.restore_drill),
    ("10. PostgreSQL down for 30 s under signing load", Suite.postgres_outage),
)


def run_scenarios(suite: Suite, records: list[Scenario], scenarios=SCENARIOS) -> None:
    """Each scenario in turn. One that raises is recorded as failed with the exception as a
    failed check; the next still run once the services and instances are back, or are
    recorded as not run when they are not."""
    for position, (record, (_name, scenario)) in enumerate(zip(records, scenarios, strict=True)):
        record.not_run = ""
        broken = ""
        try:
            scenario(suite, record)
        except BaseException as error:
            record.check(Check.raised(error))
            if not isinstance(error, Exception):  # Ctrl-C: record it and stop
                report(record)
                raise
            broken = suite.recover()
        report(record)
        if broken:
            for later in records[position + 1 :]:
                later.not_run = f"the environment was broken after {record.name}: {broken}"
            return


def figures_text(figures: dict) -> str:
    return ", ".join(f"{name} {value}" for name, value in figures.items())


def report(record: Scenario) -> None:
    say(f"{record.name}: {record.result}")
    for label, text in (("did", record.did), ("note", record.note),
                        ("skipped", record.skipped), ("not run", record.not_run)):  # fmt: skip
        if text:
            say(f"  {label}: {text}")
    for check in record.checks:
        say(f"  {check}")
    if record.figures:
        say(f"  figures: {figures_text(record.figures)}")


SUMMARY = ("acknowledged", "stored", "lost", "duplicated", "5xx")


def cell(value) -> str:
    """A value as one Markdown table cell."""
    return " ".join(str(value).split()).replace("|", "\\|")


def scenario_section(record: Scenario) -> str:
    lines = [f"### {record.name}", ""]
    for label, text in (("Did", record.did), ("Skipped", record.skipped),
                        ("Not run", record.not_run), ("Note", record.note)):  # fmt: skip
        if text:
            lines.append(f"- {label}: {text}.")
    if record.figures:
        lines.append(f"- Figures: {figures_text(record.figures)}")
    if record.checks:
        lines += ["", "| check | values | |", "| --- | --- | --- |"]
        lines += [
            f"| {cell(check.name)} | {cell(check.detail)} | "
            f"{'passed' if check.passed else '**FAILED**'} |"
            for check in record.checks
        ]
    return "\n".join(lines) + "\n"


def write_results(path: Path, records: list[Scenario], started_at) -> None:
    rows = []
    for record in records:
        figures = " | ".join(cell(record.figures.get(name, "-")) for name in SUMMARY)
        passed = sum(check.passed for check in record.checks)
        checks = f"{passed} of {len(record.checks)}" if record.checks else "-"
        result = "**FAILED**" if record.result == "FAILED" else record.result
        rows.append(f"| {record.name} | {figures} | {checks} | {result} |")
    path.write_text(
        "# Fault suite results\n\n"
        f"Measured by `make faults` (bench/faults.py) on {started_at:%Y-%m-%d %H:%M} UTC, on "
        f"{machine()}. Two gunicorn instances (gunicorn.conf.py) share one PostgreSQL and one "
        "Redis; the email worker (`manage.py send_emails`) runs as its own process; mail goes to "
        "an SMTP server run by the suite.\n\n"
        '"5xx" counts server errors other than the calm 503 page a signer sees while the '
        "database is away; requests cut off by a killed worker are counted apart (connection "
        "errors, never a success).\n\n"
        '"Acknowledged" counts the signings the site answered with "check your inbox", '
        '"stored" those of them found in the database, "confirmed" the confirmed rows, and '
        '"count" the count the site keeps (its tally). Each scenario lists its checks with the '
        "values compared; a scenario that raised has the exception as a failed check.\n\n"
        "| scenario | acknowledged | stored | lost | duplicated | 5xx | checks passed | |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
        + "\n".join(rows)
        + "\n\n## Each scenario\n\n"
        + "\n".join(scenario_section(record) for record in records),
        encoding="utf-8",
    )


def chosen(only: str):
    """The scenarios whose name contains `only` (all of them when it is empty)."""
    picked = tuple((name, run) for name, run in SCENARIOS if only.lower() in name.lower())
    if not picked:
        raise SystemExit(f"no scenario's name contains {only!r}")
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", default="", metavar="TEXT",
        help="run only the scenarios whose name contains TEXT (such as 'reload'); their "
             "results go to bench/.faults-only.log, leaving bench/FAULTS.md as it was",
    )  # fmt: skip
    only = parser.parse_args().only
    scenarios = chosen(only)
    source = source_database_url()
    db_url, admin_url, db_name = scratch_database(source, "faults")
    cache_url = os.environ.get("FAULTS_CACHE_URL", "redis://127.0.0.1:6379/6")
    sink = Sink(free_port())
    env = production_env(db_url=db_url, cache_url=cache_url, secret=secrets.token_urlsafe(50))
    env.update(
        EMAIL_URL=f"smtp://127.0.0.1:{sink.port}",
        EMAIL_RETRY_SECONDS="1",
        EMAIL_TIMEOUT="3",
        CONN_MAX_AGE="60",
    )
    sites = [Site(env, free_port(), name="faults-a"), Site(env, free_port(), name="faults-b")]
    worker = Worker(env)
    started_at = dt.datetime.now(dt.UTC)
    records = [Scenario(name) for name, _scenario in scenarios]
    setup = Scenario(
        "0. setup",
        did="created the scratch database, migrated it, loaded the content, started the two "
        "instances, the SMTP server and the email worker",
        not_run="",
    )
    suite = None
    try:
        try:
            say(f"setting up {db_name}")
            recreate(admin_url, db_name)
            subprocess.run(["redis-cli", "-u", cache_url, "FLUSHDB"], capture_output=True)
            sites[0].set_up()
            for site in sites:
                site.start()
            sink.start()
            worker.start()
            say(f"instances on {sites[0].url} and {sites[1].url}; SMTP on {sink.port}")
            suite = Suite(env, sites, Database(db_url, env["SIGNER_LOOKUP_KEY"]), sink, worker)
        except Exception as error:
            setup.check(Check.raised(error))
            report(setup)
            for record in records:
                record.not_run = "the setup failed"
        if suite:
            run_scenarios(suite, records, scenarios)
    finally:
        try:
            # Whatever a scenario was doing when it stopped, leave PostgreSQL and Redis running.
            if not start_services(check=False):
                say("could not start PostgreSQL or Redis again: start them by hand")
            if suite:
                suite.stop_load()
            worker.stop()
            for site in sites:
                site.stop()
            sink.stop()
            if suite:
                suite.db.conn.close()
            recreate(admin_url, db_name, drop_only=True)
            subprocess.run(["redis-cli", "-u", cache_url, "FLUSHDB"], capture_output=True)
            say("stopped the instances, the worker and the SMTP server; dropped the database")
        finally:
            results = ([setup] if setup.checks else []) + records
            results_file = ".faults-only.log" if only else "FAULTS.md"
            write_results(BENCH / results_file, results, started_at)
    failed = [record for record in results if record.failed]
    for record in failed:
        if record.not_run:
            say(f"NOT RUN {record.name}: {record.not_run}")
        for check in record.checks:
            if not check.passed:
                say(f"{record.name}: {check}")
    if failed:
        raise SystemExit(1)
    say(f"every scenario passed; results in bench/{'.faults-only.log' if only else 'FAULTS.md'}")


if __name__ == "__main__":
    main()

"""The fault suite: `make faults`.

Runs the site in its production form on this machine (two gunicorn instances on two ports,
sharing one scratch PostgreSQL database and Redis; the email worker as its own process; an SMTP
server of its own), breaks things during signing load, and checks that nothing acknowledged was
lost or duplicated. Every request goes to 127.0.0.1; every step is bounded in time.

Restarting PostgreSQL and Redis uses the commands of this machine's Debian services
(pg_ctlcluster, redis-server) and needs root; where they are missing those scenarios are
reported as skipped, and whatever happens the suite leaves both running again. Each scenario
prints what it did, what it checked and its figures; the results go to bench/FAULTS.md, and the
suite exits non-zero on any loss, duplicate or server error other than a calm 503.
"""

import asyncio
import datetime as dt
import email
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from email import policy
from pathlib import Path

import aiohttp
from aiosmtpd.controller import Controller
from harness import (
    BASE,
    BENCH,
    PYTHON,
    Database,
    Site,
    confirm_tokens,
    free_port,
    log,
    machine,
    production_env,
    recreate,
    scratch_database,
)  # fmt: skip

SLUG = "protect-human-rights-defenders"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
RENDERED = re.compile(r'name="rendered_at" value="([^"]+)"')
SIGN_LIMIT = 10  # RATE_LIMIT_SIGN's burst, as in production: 10 a minute per client


def say(message: str) -> None:
    log(message, prefix="faults")


def postgres_version() -> str | None:
    """This machine's Debian PostgreSQL cluster, if pg_ctlcluster can drive it."""
    etc = Path("/etc/postgresql")
    versions = sorted(os.listdir(etc)) if etc.is_dir() else []
    return versions[-1] if versions and shutil.which("pg_ctlcluster") else None


def stop_postgres() -> float:
    """Stop PostgreSQL at once (fast shutdown); returns when it was down."""
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", postgres_version(), "main", "stop",
         "-m", "fast"],
        check=True, capture_output=True,
    )  # fmt: skip
    return time.monotonic()


def start_services(*, check: bool = True) -> bool:
    """Start PostgreSQL and Redis if they are down, as CI does (.ci/services), and wait."""
    done = subprocess.run([str(BASE / ".ci" / "services")], capture_output=True, text=True)
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

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
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
        self.log = open(BENCH / ".faults-worker.log", "a")  # noqa: SIM115 - closed in stop()

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


class Suite:
    def __init__(self, env: dict, sites: list[Site], db: Database, db_url: str, sink, worker):
        self.env, self.sites, self.db, self.db_url = env, sites, db, db_url
        self.sink, self.worker = sink, worker
        self.bases = [site.url for site in sites]
        self.results: list[dict] = []

    # Load -------------------------------------------------------------------------------------

    def signing(self, *, seconds: float, signers: int, prefix: str, confirmers: int = 0,
                links: Path | None = None) -> subprocess.Popen:  # fmt: skip
        command = [PYTHON, str(BENCH / "signing.py"), "--slug", SLUG, "--seconds", str(seconds),
                   "--signers", str(signers), "--confirmers", str(confirmers), "--prefix", prefix,
                   "--acknowledged", str(BENCH / f".faults-{prefix}.json")]  # fmt: skip
        for base in self.bases:
            command += ["--base", base]
        if links:
            command += ["--links", str(links)]
        return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)

    def finish(self, process: subprocess.Popen, prefix: str) -> tuple[dict, list[str], list[str]]:
        output, _ = process.communicate(timeout=300)
        figures = json.loads(output)
        acknowledged = json.loads((BENCH / f".faults-{prefix}.json").read_text())
        (BENCH / f".faults-{prefix}.json").unlink()
        return figures, acknowledged["signed"], acknowledged["confirmed"]

    def stored(self, emails: list[str]) -> set[str]:
        rows = self.db.conn.execute(
            "SELECT email FROM petitions_signature WHERE email = ANY(%s)", (emails,)
        )
        return {row[0] for row in rows}

    def duplicates(self) -> int:
        return self.db.one(
            "SELECT count(*) FROM (SELECT petition_id, email FROM petitions_signature "
            "WHERE email IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) AS twice"
        )

    def record(self, name: str, did: str, checked: str, ok: bool, **figures) -> None:
        self.results.append({"name": name, "did": did, "checked": checked, "ok": ok, **figures})
        shown = ", ".join(f"{k} {v}" for k, v in figures.items())
        say(f"{name}: {'PASSED' if ok else 'FAILED'}")
        say(f"  did: {did}")
        say(f"  checked: {checked}")
        say(f"  figures: {shown}")

    def signed_and_checked(self, process, prefix: str) -> dict:
        figures, acknowledged, _ = self.finish(process, prefix)
        stored = self.stored(acknowledged)
        sign = figures["sign"]
        return {
            "acknowledged": len(acknowledged),
            "stored": len(stored),
            "lost": len(set(acknowledged) - stored),
            "duplicated": self.duplicates(),
            "5xx": sign["errors"].get("5xx", 0),
            "503": sign["errors"].get("503", 0),
            "cut off": sign["errors"].get("connection", 0),
            "emails": acknowledged,
        }

    # Probes -----------------------------------------------------------------------------------

    async def sign_once(self, session, base_form: str, base_post: str, email_address: str,
                        address: str) -> int:  # fmt: skip
        headers = {"X-Forwarded-For": address}
        session.cookie_jar.clear()
        async with session.get(f"{base_form}/petitions/{SLUG}/", headers=headers) as response:
            body = await response.text()
        data = {
            "csrfmiddlewaretoken": CSRF.search(body).group(1),
            "rendered_at": RENDERED.search(body).group(1),
            "first_name": "Probe", "last_name": "Signer", "email": email_address,
            "country": "NL", "source": "petition", "website": "",
        }  # fmt: skip
        async with session.post(f"{base_post}/petitions/{SLUG}/sign/", data=data,
                                headers=headers, allow_redirects=False) as response:  # fmt: skip
            return response.status

    async def sign_across_outage(self, stop_database) -> tuple[float, str]:
        """A browser that loaded the form while the database was up submits it while the
        database is away: the POST must get the calm 503 page. Returns when the database
        stopped, and what the POST got."""
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            headers = {"X-Forwarded-For": "192.0.2.200"}
            async with session.get(f"{self.bases[1]}/petitions/{SLUG}/", headers=headers) as r:
                body = await r.text()
            token = CSRF.search(body)
            down_at = stop_database()
            if not token:
                return down_at, f"form {r.status}"
            await asyncio.sleep(1)
            data = {"csrfmiddlewaretoken": token.group(1), "first_name": "Down",
                    "last_name": "Time", "email": "down@faults.example", "country": "NL",
                    "rendered_at": RENDERED.search(body).group(1), "website": ""}  # fmt: skip
            async with session.post(f"{self.bases[1]}/petitions/{SLUG}/sign/", data=data,
                                    headers=headers, allow_redirects=False) as r:  # fmt: skip
                text = await r.text()
                calm = "cannot reach its database" in text and "Traceback" not in text
                return down_at, f"{r.status} ({'the database page' if calm else 'another page'})"

    def rate_limit_across_instances(self, label: str) -> tuple[bool, list[int]]:
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
        ok = statuses[:SIGN_LIMIT] == [302] * SIGN_LIMIT and set(statuses[SIGN_LIMIT:]) == {429}
        return ok, statuses

    def count_from(self, base: str) -> int:
        url = f"{base}/petitions/{SLUG}/count.json?fresh={secrets.token_hex(4)}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)["count"]

    def health(self, base: str) -> int:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    def wait(self, condition, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.25)
        return False

    # Scenarios --------------------------------------------------------------------------------

    def two_instances(self) -> None:
        process = self.signing(seconds=8, signers=24, prefix="f1")
        result = self.signed_and_checked(process, "f1")
        links = BENCH / ".faults-links.txt"
        confirm_tokens(self.env, self.db.pending_ids(300), links)
        process = self.signing(seconds=6, signers=0, confirmers=16, prefix="f1c", links=links)
        figures, _signed, confirmed = self.finish(process, "f1c")
        links.unlink()
        counts = [self.count_from(base) for base in self.bases]
        real = self.db.confirmed()
        limited, statuses = self.rate_limit_across_instances("f1")
        emails = result.pop("emails")
        ok = (
            not result["lost"] and not result["duplicated"] and not result["5xx"]
            and counts == [real, real] and self.db.stored_count() == real and limited
            and len(emails) > 0 and not figures["confirm"]["errors"].get("5xx")
        )  # fmt: skip
        self.record(
            "1. two web instances",
            f"signed from 24 clients for 8 s and confirmed {len(confirmed)} signatures from 16, "
            "each client alternating between the two instances; then sent one client's "
            f"{SIGN_LIMIT + 4} signings alternately to each instance",
            "every acknowledged signature stored once; count.json the same from both instances "
            "and equal to the confirmed rows; the client's burst limit held across instances "
            f"(statuses {statuses})",
            ok, **result, confirmed=len(confirmed), counts=counts,
        )  # fmt: skip

    def killed_workers(self) -> None:
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
        result = self.signed_and_checked(process, "f2")
        result.pop("emails")
        ok = not result["lost"] and not result["duplicated"] and not result["5xx"]
        self.record(
            "2. gunicorn workers killed",
            f"signed from 32 clients for 12 s on both instances while a random worker was "
            f"SIGKILLed every 2 s ({kills} kills)",
            "every signing that got a success is in the database; cut-off requests got a "
            "connection error, not a success; no server error",
            ok, **result, kills=kills,
        )  # fmt: skip

    def postgres_restart(self) -> None:
        if not postgres_version():
            self.record("3. PostgreSQL restarted", "skipped: no pg_ctlcluster here", "-", True)
            return
        process = self.signing(seconds=16, signers=24, prefix="f3")
        time.sleep(4)
        down_at, down_page = asyncio.run(self.sign_across_outage(stop_postgres))
        health_down = self.health(self.bases[0])
        time.sleep(3)
        start_services()
        outage = time.monotonic() - down_at
        self.db.reconnect()
        back = self.wait(lambda: all(self.health(b) == 200 for b in self.bases), 30)
        result = self.signed_and_checked(process, "f3")
        result.pop("emails")
        after = self.signing(seconds=3, signers=8, prefix="f3b")
        resumed = self.signed_and_checked(after, "f3b")
        resumed.pop("emails")
        ok = (
            not result["lost"] and not result["duplicated"] and not result["5xx"]
            and health_down == 503 and down_page.startswith("503 (the database")
            and back and resumed["acknowledged"] > 0
            and not resumed["5xx"] and not resumed["503"]
        )  # fmt: skip
        self.record(
            "3. PostgreSQL restarted",
            f"signed from 24 clients for 16 s; stopped PostgreSQL (fast) after 4 s for "
            f"{outage:.1f} s; then signed again for 3 s without restarting the web instances",
            f"while down /healthz said {health_down}, and a form loaded before the outage and "
            f"posted during it got {down_page}; nothing "
            "acknowledged lost; only calm 503s; signing resumed by itself "
            f"({resumed['acknowledged']} signatures after)",
            ok, **result,
        )  # fmt: skip

    def redis_stopped(self) -> None:
        if not shutil.which("redis-server"):
            self.record("4. Redis stopped", "skipped: no redis-server here", "-", True)
            return
        log_lines = lambda: sum(  # noqa: E731
            site.log_path.read_text().count("Rate limits are off") for site in self.sites
        )
        before = log_lines()
        subprocess.run(["redis-cli", "shutdown", "nosave"], capture_output=True)
        process = self.signing(seconds=6, signers=24, prefix="f4")
        result = self.signed_and_checked(process, "f4")
        result.pop("emails")
        pages = [self.health(b) for b in self.bases]
        home = urllib.request.urlopen(f"{self.bases[0]}/", timeout=5).status
        warnings = log_lines() - before
        start_services()
        limited, statuses = self.rate_limit_across_instances("f4")
        workers = sum(len(site.workers()) for site in self.sites)
        ok = (
            not result["lost"] and not result["duplicated"] and not result["5xx"]
            and result["acknowledged"] > 0 and home == 200 and pages == [200, 200]
            and 0 < warnings <= workers and limited
        )  # fmt: skip
        self.record(
            "4. Redis stopped",
            "stopped Redis, signed from 24 clients for 6 s on both instances, read pages, "
            "started Redis again",
            f"pages and signing went on ({result['acknowledged']} signatures, home page {home}); "
            f"the outage was logged {warnings} times for {workers} web workers (once each, not "
            f"per request); rate limits applied again once Redis was back ({statuses})",
            ok, **result, warnings=warnings,
        )  # fmt: skip

    def drain(self, seconds: float = 180) -> bool:
        """Wait until the worker has sent every email the earlier scenarios queued."""
        return self.wait(
            lambda: self.db.one("SELECT count(*) FROM petitions_signature WHERE email_due") == 0,
            seconds,
        )

    def smtp_down(self) -> None:
        backlog = self.db.one("SELECT count(*) FROM petitions_signature WHERE email_due")
        drained_first = self.drain()
        say(f"  (sent the {backlog} emails queued by the earlier scenarios first)")
        self.sink.stop()
        process = self.signing(seconds=4, signers=16, prefix="f5")
        result = self.signed_and_checked(process, "f5")
        emails = set(result.pop("emails"))

        def waiting() -> int:
            return self.db.one(
                "SELECT count(*) FROM petitions_signature WHERE email = ANY(%s) AND email_due "
                "AND email_attempts > 0", list(emails),
            )  # fmt: skip

        self.wait(lambda: waiting() == len(emails), 30)
        waiting = waiting()
        delivered_while_down = len(self.sink.deliveries(emails))
        self.sink.start()
        drained = self.wait(
            lambda: self.db.one(
                "SELECT count(*) FROM petitions_signature WHERE email = ANY(%s) AND email_due",
                list(emails),
            ) == 0,
            90,
        )  # fmt: skip
        deliveries = self.sink.deliveries(emails)
        missing = len(emails - set(deliveries))
        twice = sum(len(ids) > 1 for ids in deliveries.values())
        ok = (
            drained_first and not result["lost"] and not result["5xx"] and drained
            and not missing and not twice and delivered_while_down == 0
            and waiting == len(emails)
        )  # fmt: skip
        self.record(
            "5. SMTP server down",
            "stopped the SMTP server, signed from 16 clients for 4 s, waited, started it again",
            f"signatures saved while it was down; {waiting} emails waiting with failed attempts "
            "counted; after it came back every signer got exactly one email",
            ok, **result, emails_missing=missing, emails_twice=twice,
        )  # fmt: skip

    def worker_killed(self) -> None:
        self.worker.stop()
        process = self.signing(seconds=3, signers=16, prefix="f6")
        result = self.signed_and_checked(process, "f6")
        emails = set(result.pop("emails"))
        self.sink.delay = 0.005
        self.worker.start()
        time.sleep(1.5)
        self.worker.kill()
        sent_before_kill = len(self.sink.deliveries(emails))
        self.worker.start()
        drained = self.wait(
            lambda: self.db.one(
                "SELECT count(*) FROM petitions_signature WHERE email = ANY(%s) AND email_due",
                list(emails),
            ) == 0,
            180,
        )  # fmt: skip
        self.sink.delay = 0.0
        deliveries = self.sink.deliveries(emails)
        missing = len(emails - set(deliveries))
        different = sum(len(set(ids)) > 1 for ids in deliveries.values())
        repeated = sum(len(ids) > len(set(ids)) for ids in deliveries.values())
        ok = drained and not missing and not different and not result["lost"]
        self.record(
            "6. email worker killed mid-batch",
            f"queued {len(emails)} emails, started the worker, SIGKILLed it after 1.5 s "
            f"({sent_before_kill} sent by then), started it again",
            "every queued email was sent; no signer got two different emails for one signing "
            f"(a delivery repeated with the same Message-ID, possible only if the kill lands "
            f"between the server's acceptance and the commit: {repeated})",
            ok, **result, emails_missing=missing, emails_duplicated=different,
            same_message_twice=repeated,
        )  # fmt: skip

    def same_email(self) -> None:
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
        rows = self.db.one(
            "SELECT count(*) FROM petitions_signature WHERE email = %s", address.lower()
        )
        signature_id = self.db.one(
            "SELECT id FROM petitions_signature WHERE email = %s", address.lower()
        )
        links = BENCH / ".faults-twin.txt"
        confirm_tokens(self.env, [signature_id, signature_id], links)
        process = self.signing(seconds=3, signers=0, confirmers=2, prefix="f7", links=links)
        figures, _signed, confirmed = self.finish(process, "f7")
        links.unlink()
        counted = self.db.confirmed() - before
        ok = (
            rows == 1 and set(statuses) == {302} and counted == 1
            and self.db.stored_count() == self.db.confirmed()
            and not figures["confirm"]["errors"].get("5xx")
        )  # fmt: skip
        self.record(
            "7. one email, 32 clients at once",
            "32 clients on both instances sent the same address in different letter cases at "
            "the same moment; then its confirmation link was pressed on both instances at once",
            f"one row ({rows}), every response the usual redirect ({sorted(set(statuses))}), "
            f"the confirmation counted once ({counted})",
            ok, acknowledged=statuses.count(302), stored=rows, lost=0,
            duplicated=max(0, rows - 1), **{"5xx": sum(s >= 500 for s in statuses)},
        )  # fmt: skip


def write_results(path: Path, results: list[dict], started_at) -> None:
    rows = [
        f"| {r['name']} | {r.get('acknowledged', '-')} | {r.get('stored', '-')} | "
        f"{r.get('lost', '-')} | {r.get('duplicated', '-')} | {r.get('5xx', '-')} | "
        f"{'passed' if r['ok'] else '**FAILED**'} |"
        for r in results
    ]
    details = [
        f"### {r['name']}\n\n- Did: {r['did']}.\n- Checked: {r['checked']}.\n- Figures: "
        + ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("name", "did", "checked", "ok"))
        + "\n"
        for r in results
    ]
    path.write_text(
        "# Fault suite results\n\n"
        f"Measured by `make faults` (bench/faults.py) on {started_at:%Y-%m-%d %H:%M} UTC, on "
        f"{machine()}. Two gunicorn instances (gunicorn.conf.py) share one PostgreSQL and one "
        "Redis; the email worker (`manage.py send_emails`) runs as its own process; mail goes to "
        "an SMTP server run by the suite.\n\n"
        '"5xx" counts server errors other than the calm 503 page a signer sees while the '
        "database is away; requests cut off by a killed worker are counted apart (connection "
        "errors, never a success).\n\n"
        "| scenario | acknowledged | stored | lost | duplicated | 5xx | |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |\n"
        + "\n".join(rows)
        + "\n\n## Each scenario\n\n"
        + "\n".join(details),
        encoding="utf-8",
    )


def main() -> None:
    source = os.environ.get("DATABASE_URL", "postgres://root@127.0.0.1:5432/test")
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
    recreate(admin_url, db_name)
    subprocess.run(["redis-cli", "-u", cache_url, "FLUSHDB"], capture_output=True)
    suite = None
    try:
        say(f"setting up {db_name}")
        sites[0].manage("migrate", "--noinput", "-v0")
        sites[0].manage("load_campaign_content", "-v0")
        sites[0].manage("collectstatic", "--noinput", "-v0")
        for site in sites:
            site.start()
        sink.start()
        worker.start()
        say(f"instances on {sites[0].url} and {sites[1].url}; SMTP on {sink.port}")
        suite = Suite(env, sites, Database(db_url), db_url, sink, worker)
        for scenario in (
            suite.two_instances, suite.killed_workers, suite.postgres_restart,
            suite.redis_stopped, suite.smtp_down, suite.worker_killed, suite.same_email,
        ):  # fmt: skip
            scenario()
    finally:
        # Whatever a scenario was doing when it stopped, leave PostgreSQL and Redis running.
        if not start_services(check=False):
            say("could not start PostgreSQL or Redis again: start them by hand")
        worker.stop()
        for site in sites:
            site.stop()
        sink.stop()
        if suite:
            suite.db.conn.close()
        recreate(admin_url, db_name, drop_only=True)
        subprocess.run(["redis-cli", "-u", cache_url, "FLUSHDB"], capture_output=True)
        say("stopped the instances, the worker and the SMTP server; dropped the database")
    write_results(BENCH / "FAULTS.md", suite.results, started_at)
    failed = [r["name"] for r in suite.results if not r["ok"]]
    if failed:
        say(f"FAILED: {', '.join(failed)}")
        raise SystemExit(1)
    say("every scenario passed; results in bench/FAULTS.md")


if __name__ == "__main__":
    main()

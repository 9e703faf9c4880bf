"""What the benchmark (run.py) and the fault suite (faults.py) share: the site in its production
form on this machine, a scratch PostgreSQL database, direct reads for the checks, and the checks.

Words mean one thing in every bench script and in the results they write:

- acknowledged: what the site told a client it saved (a signing redirected to "check your
  inbox", a confirmation redirected to the thank-you page), counted by the load generator;
- stored: signature rows in the database (of the acknowledged addresses, where it says so);
- confirmed: signature rows whose status is confirmed;
- count: the petition's signature count as the site keeps it (the sum of its tally shards,
  what count.json serves; elsewhere in the project "the stored count").
"""

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE = Path(__file__).resolve().parent.parent
BENCH = BASE / "bench"
PYTHON = sys.executable


def log(message: str, prefix: str = "bench") -> None:
    print(f"[{prefix}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def source_database_url() -> str:
    """The PostgreSQL server the bench scripts use: DATABASE_URL, or this machine's."""
    url = os.environ.get("DATABASE_URL", "postgres://root@127.0.0.1:5432/test")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL server, e.g. postgres://root@127.0.0.1:5432/test"
        )
    return url


def scratch_database(url: str, suffix: str) -> tuple[str, str, str]:
    """A scratch database beside the one `url` names: its URL, the URL to create and drop it
    from (the server's maintenance database, so that the one `url` names need not exist:
    pytest makes its own, test_<name>), and its name."""
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_{suffix}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    return urlunsplit(parts._replace(path=f"/{name}")), admin_url, name


def recreate(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def in_process_database(suffix: str) -> tuple[str, str]:
    """A fresh scratch database for a bench script that runs Django in its own process (the
    dashboard, the export): created, named in this process's environment with the settings it
    needs; returns (admin_url, name) to drop it with at the end."""
    url, admin_url, name = scratch_database(source_database_url(), suffix)
    recreate(admin_url, name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    # The settings module needs DEBUG to start without production secrets; Django's test
    # environment switches it off again, so no query is kept in memory.
    os.environ["DEBUG"] = "True"
    return admin_url, name


class Site:
    """gunicorn serving the site in its production form, on a free loopback port."""

    def __init__(self, env: dict, port: int, name: str = "gunicorn", base: Path = BASE) -> None:
        self.base = base  # the checkout it runs from: this one, or another (signing_ab.py)
        self.env = {
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "SITE_URL": f"http://127.0.0.1:{port}",
        }
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.log_path = BENCH / f".{name}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()

    def manage(self, *args: str) -> None:
        subprocess.run([PYTHON, "manage.py", *args], cwd=self.base, env=self.env, check=True)

    def set_up(self) -> None:
        """Its (empty) database migrated and filled with the campaign's content, and its static
        files collected, as a release does before the first start."""
        self.manage("migrate", "--noinput", "-v0")
        self.manage("load_campaign_content", "-v0")
        self.manage("collectstatic", "--noinput", "-v0")

    def start(self) -> None:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "--config", "gunicorn.conf.py", "campaign.wsgi"],
            cwd=self.base,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer /healthz; see bench/.gunicorn.log")

    def workers(self) -> list[int]:
        """The pids of gunicorn's worker processes (the master's children)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


class Database:
    """Direct reads of the scratch database, for the checks. Addresses are sealed there and
    found by their keyed hash, so reading by address needs the site's SIGNER_LOOKUP_KEY."""

    def __init__(self, url: str, lookup_key: str = "") -> None:
        import psycopg

        self.url = url
        self.lookup_key = lookup_key
        self.conn = psycopg.connect(url, autocommit=True)

    def hashes(self, emails) -> dict[str, str]:
        """Each address's keyed hash, as the site computes it (petitions.models.address_hash),
        to the address."""
        from campaign.lib.sealed import keyed_hash

        if not self.lookup_key:
            raise RuntimeError("Database(url, lookup_key) is needed to read by address")
        return {keyed_hash(self.lookup_key, email.strip().lower()): email for email in emails}

    def reconnect(self, seconds: float = 60) -> None:
        """After a database restart: connect again, waiting for the server to accept."""
        import psycopg

        self.conn.close()
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.conn = psycopg.connect(self.url, autocommit=True)
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def one(self, sql: str, *params):
        return self.conn.execute(sql, params).fetchone()[0]

    def slug(self) -> str:
        """The slug of the petition the campaign content loads."""
        return self.one("SELECT slug FROM petitions_petition ORDER BY id LIMIT 1")

    def signatures(self) -> int:
        """Signature rows stored, of any status."""
        return self.one("SELECT count(*) FROM petitions_signature")

    def stored(self, emails: list[str]) -> set[str]:
        """Which of these addresses have a signature row."""
        hashes = self.hashes(emails)
        rows = self.conn.execute(
            "SELECT email_hash FROM petitions_signature WHERE email_hash = ANY(%s)",
            (list(hashes),),
        )
        return {hashes[row[0]] for row in rows}

    def signature_ids(self, email: str) -> list[int]:
        """The rows stored for one address (the unique constraint allows one per petition)."""
        [digest] = self.hashes([email])
        rows = self.conn.execute(
            "SELECT id FROM petitions_signature WHERE email_hash = %s ORDER BY id", (digest,)
        )
        return [row[0] for row in rows]

    def duplicates(self) -> int:
        """Addresses with more than one row for the same petition."""
        return self.one(
            "SELECT count(*) FROM (SELECT petition_id, email_hash FROM petitions_signature "
            "WHERE email_hash IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) AS twice"
        )

    def confirmed(self) -> int:
        """Signature rows whose status is confirmed."""
        return self.one("SELECT count(*) FROM petitions_signature WHERE status = 'confirmed'")

    def count(self) -> int:
        """The petitions' count as the site keeps it: the sum of the tally shards."""
        return self.one("SELECT coalesce(sum(count), 0) FROM petitions_signaturetally")

    def pending_ids(self, limit: int) -> list[int]:
        rows = self.conn.execute(
            "SELECT id FROM petitions_signature WHERE status = 'pending' ORDER BY id LIMIT %s",
            (limit,),
        )
        return [row[0] for row in rows]

    def emails_due(self, emails: set[str] | None = None, *, attempted: bool = False) -> int:
        """Emails waiting in the outbox: all, or those of these addresses; with `attempted`,
        only those the worker has already failed to send at least once."""
        sql = "SELECT count(*) FROM petitions_signature WHERE email_due"
        params: list = []
        if emails is not None:
            sql += " AND email_hash = ANY(%s)"
            params.append(list(self.hashes(emails)))
        if attempted:
            sql += " AND email_attempts > 0"
        return self.one(sql, *params)


@dataclass(frozen=True)
class Check:
    """One named check of a run, with the values it compared: `str(check)` reads
    "FAILED acknowledged == stored: acknowledged=2279 stored=2270"."""

    name: str
    passed: bool
    values: dict = field(default_factory=dict)

    @classmethod
    def equal(cls, name: str, **values) -> "Check":
        """Passes when every value is the same."""
        first, *others = values.values()
        return cls(name, all(other == first for other in others), values)

    @classmethod
    def zero(cls, name: str, **values) -> "Check":
        """Passes when every value is zero (or empty)."""
        return cls(name, not any(values.values()), values)

    @classmethod
    def raised(cls, error: BaseException) -> "Check":
        """A run that stopped on an exception: its type and message, as a failed check."""
        message = " ".join(str(error).split())
        return cls("no exception", False, {"raised": f"{type(error).__name__}: {message}"})

    @property
    def detail(self) -> str:
        return " ".join(f"{name}={value}" for name, value in self.values.items())

    def __str__(self) -> str:
        return f"{'passed' if self.passed else 'FAILED'} {self.name}: {self.detail}"


def wrk_signing(url: str, slug: str, clients: int, seconds: int, prefix: str) -> dict:
    """Scenario 4 through wrk and bench/wrk/signing.lua: one wrk thread per simulated browser.
    The script stops each browser at the deadline once its signing is answered; wrk runs a
    little longer so that none is cut off."""
    command = [
        "wrk", f"-t{clients}", f"-c{clients}", f"-d{seconds + 3}s", "--timeout", "10s",
        "-s", str(BENCH / "wrk" / "signing.lua"), url, "--", slug, prefix, str(seconds),
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures = json.loads(output.split("JSON ", 1)[1])
    figures["per_second"] = figures["ok"] / figures["seconds"]
    return figures


def signing_command(bases: list[str], slug: str, *, signers: int, seconds: float, prefix: str,
                    confirmers: int = 0, links: Path | None = None,
                    acknowledged: Path | None = None) -> list[str]:  # fmt: skip
    """bench/signing.py's command line: browsers signing (and confirming emailed links)."""
    command = [
        PYTHON, str(BENCH / "signing.py"), "--slug", slug, "--seconds", str(seconds),
        "--signers", str(signers), "--confirmers", str(confirmers), "--prefix", prefix,
    ]  # fmt: skip
    for base in bases:
        command += ["--base", base]
    if links:
        command += ["--links", str(links)]
    if acknowledged:
        command += ["--acknowledged", str(acknowledged)]
    return command


def confirm_tokens(env: dict, ids: list[int], target: Path) -> None:
    """Confirmation links as the emails carry them (signed public ids), for these rows, in
    this order, signed with the site's SECRET_KEY."""
    code = (
        "import sys; from petitions.models import Signature; "
        "from petitions.tokens import confirm_token; "
        "ids = [int(i) for i in sys.stdin.read().split()]; "
        "public = dict(Signature.objects.filter(pk__in=ids).values_list('pk', 'public_id')); "
        "sys.stdout.write('\\n'.join(confirm_token(public[i]) for i in ids))"
    )
    tokens = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code],
        cwd=BASE, env=env, input="\n".join(map(str, ids)), capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    target.write_text(tokens)


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{model}, {os.cpu_count()} cores, {memory} GiB, Linux {platform.release()}"


def signer_keys() -> dict[str, str]:
    """Fresh SIGNER_DATA_KEY and SIGNER_LOOKUP_KEY, as production requires them."""
    from cryptography.fernet import Fernet

    return {
        "SIGNER_DATA_KEY": Fernet.generate_key().decode(),
        "SIGNER_LOOKUP_KEY": Fernet.generate_key().decode(),
    }


def sealed_pool(texts: list[str], field: str) -> list[str]:
    """These texts sealed as the site seals them for a sealed field of Signature (bound to its
    column; campaign.lib.sealed, with the keys of the settings in use: call after
    django.setup()): for seeding rows in SQL, which cannot seal. Reading a row opens its values
    whether or not other rows share them, so a pool costs an export what as many distinct
    values would."""
    from campaign.lib.sealed import seal, sealed_context
    from petitions.models import Signature

    context = sealed_context(Signature, field)
    return [seal(text, context) for text in texts]


# A distinct stand-in for an address's keyed hash (64 hex characters) for seeded rows that no
# one looks up by address: SQL cannot compute the site's HMAC. `n` is the row's number.
SEEDED_EMAIL_HASH = "md5(n::text) || md5('@' || n::text)"
# And for their receipts: no code (nobody holds one), a distinct stand-in hash.
SEEDED_RECEIPT_HASH = "md5('r' || n::text) || md5('receipt' || n::text)"


def production_env(*, db_url: str, cache_url: str, secret: str) -> dict:
    """The site's production settings on loopback, for the benchmark and the fault suite, with
    fresh signer keys (the harness reads addresses by hash with SIGNER_LOOKUP_KEY)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DEBUG": "False",
        "SECRET_KEY": secret,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": "http://127.0.0.1",
        "HTTPS": "False",
        "DATABASE_URL": db_url,
        "CACHE_URL": cache_url,
        **signer_keys(),
        "EMAIL_QUEUE": "worker",
        "EMAIL_URL": "dummymail://",
        # Each simulated browser sends its own X-Forwarded-For address, read as from one proxy.
        "TRUSTED_PROXY_COUNT": "1",
        # A script fills in the form in no time; people do not. The honeypot stays on.
        "SIGNATURE_MIN_FORM_SECONDS": "0",
        "LOG_LEVEL": "warning",
    }

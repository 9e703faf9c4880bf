"""What the benchmark (run.py) and the fault suite (faults.py) share: the site in its production
form on this machine, a scratch PostgreSQL database, direct reads for the checks."""

import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
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


def scratch_database(url: str, suffix: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_{suffix}"
    return urlunsplit(parts._replace(path=f"/{name}")), urlunsplit(parts), name


def recreate(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


class Site:
    """gunicorn serving the site in its production form, on a free loopback port."""

    def __init__(self, env: dict, port: int, name: str = "gunicorn") -> None:
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
        subprocess.run([PYTHON, "manage.py", *args], cwd=BASE, env=self.env, check=True)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "--config", "gunicorn.conf.py", "campaign.wsgi"],
            cwd=BASE,
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
    """Direct reads of the scratch database, for the checks."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        self.conn = psycopg.connect(url, autocommit=True)

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

    def signatures(self) -> int:
        return self.one("SELECT count(*) FROM petitions_signature")

    def confirmed(self) -> int:
        return self.one("SELECT count(*) FROM petitions_signature WHERE status = 'confirmed'")

    def stored_count(self) -> int:
        return self.one("SELECT coalesce(sum(count), 0) FROM petitions_signaturetally")

    def pending_ids(self, limit: int) -> list[int]:
        rows = self.conn.execute(
            "SELECT id FROM petitions_signature WHERE status = 'pending' ORDER BY id LIMIT %s",
            (limit,),
        )
        return [row[0] for row in rows]


def confirm_tokens(env: dict, ids: list[int], target: Path) -> None:
    """Confirmation links as the emails carry them, signed with the site's SECRET_KEY."""
    code = (
        "import sys; from petitions.tokens import confirm_token; "
        "sys.stdout.write('\\n'.join(confirm_token(int(i)) for i in sys.stdin.read().split()))"
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


def production_env(*, db_url: str, cache_url: str, secret: str) -> dict:
    """The site's production settings on loopback, for the benchmark and the fault suite."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DEBUG": "False",
        "SECRET_KEY": secret,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HTTPS": "False",
        "DATABASE_URL": db_url,
        "CACHE_URL": cache_url,
        "EMAIL_QUEUE": "worker",
        "EMAIL_URL": "dummymail://",
        # Each simulated browser sends its own X-Forwarded-For address, read as from one proxy.
        "TRUSTED_PROXY_COUNT": "1",
        # A script fills in the form in no time; people do not. The honeypot stays on.
        "SIGNATURE_MIN_FORM_SECONDS": "0",
        "LOG_LEVEL": "warning",
    }

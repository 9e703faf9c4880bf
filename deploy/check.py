"""`make deploy-check`: deploy/nginx/campaign.conf in front of gunicorn on this machine, checked
over real HTTPS.

The nginx config is the committed file itself, with this run's ports, certificate and
directories put in place of the operator's values (render(); a value that is no longer in the
file stops the check rather than let it test some other config). nginx runs as a process of
this script's own, in the foreground, with its own prefix in a temporary directory and on free
loopback ports: never the machine's nginx service, never ports 80 or 443. gunicorn serves the
site in its production form (bench/harness.py's Site) on an SQLite database and a file cache of
its own. The certificate is self-signed, made for the run and deleted with it.

What is checked, each printed as it passes or fails (any failure exits 1):
- plain HTTP answers only with a redirect to HTTPS, path and query kept;
- HTTPS speaks HTTP/2;
- the security headers (HSTS, CSP and the others) arrive once each, exactly as gunicorn sends
  them without the proxy; nginx names no version;
- the site answers with the request id the proxy gave the request (X-Request-ID), and
  /metrics is refused through the proxy even to an address allowed to read it directly;
- static files arrive from whitenoise compressed, with their year-long cache lifetime;
- uploaded media: images as images, anything else as a download (application/octet-stream,
  attachment), all with nosniff and a sandboxing CSP, served as stored and never run; no
  directory listing, nothing outside MEDIA_ROOT;
- a body over client_max_body_size is refused with 413, one under it reaches the site;
- the client's address reaches Django through X-Forwarded-For (TRUSTED_PROXY_COUNT=1): a forged
  header does not choose another rate-limit bucket, and two real clients (127.0.0.1 and
  127.0.0.2) have two;
- the proxy's access and error logs hold no client address and no query string.

Installs Debian's nginx when it is missing (needs root, like .ci/run's Chromium). curl (with
HTTP/2, as Debian's is built) and openssl are the clients.
"""

import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
CONFIG = BASE / "deploy" / "nginx" / "campaign.conf"
PREFIX = "deploy-check"

# What the site sets on every page; the proxy must pass each through once, unchanged.
SECURITY_HEADERS = (
    "strict-transport-security",
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "x-frame-options",
    "permissions-policy",
)
# Stand-ins that must never reach a log: a token in a link's query string, forged addresses.
TOKEN = "deploy-check-token-" + "7" * 24
FORGED = ("198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4")
CLIENTS = ("127.0.0.1", "127.0.0.2")

# Debian's /etc/nginx/nginx.conf, as far as it matters to the site's file (mime types, sendfile,
# gzip on: the site's file switches it off), with everything that would touch the machine's
# nginx (pid, logs, temporary files, the user when run by root) inside this run's directory.
MAIN_CONFIG = """\
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/main-error.log;
events {{
    worker_connections 256;
}}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {tmp}/main-access.log;
    gzip on;
    client_body_temp_path {tmp}/temp/body;
    proxy_temp_path {tmp}/temp/proxy;
    fastcgi_temp_path {tmp}/temp/fastcgi;
    uwsgi_temp_path {tmp}/temp/uwsgi;
    scgi_temp_path {tmp}/temp/scgi;
    include {tmp}/campaign.conf;
}}
"""


def render(text: str, replacements: dict[str, str]) -> str:
    """The committed config with each operator's value replaced by this run's. A value missing
    from the file is an error: the check would otherwise run a config the file does not say."""
    for old, new in replacements.items():
        if old not in text:
            raise ValueError(
                f"{CONFIG.name} no longer contains {old!r}: update deploy/check.py to match."
            )
        text = text.replace(old, new)
    return text


def replacements(*, tmp: Path, http_port: int, https_port: int, upstream_port: int) -> dict:
    """This run's values for the operator's: loopback and free ports (no IPv6 listener, which
    not every machine has), the run's certificate, gunicorn, MEDIA_ROOT and logs."""
    return {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "/etc/letsencrypt/live/campaign.example.org/fullchain.pem": str(tmp / "cert.pem"),
        "/etc/letsencrypt/live/campaign.example.org/privkey.pem": str(tmp / "key.pem"),
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        "alias /var/lib/campaign/media/;": f"alias {tmp / 'media'}/;",
        "/var/log/nginx/campaign-access.log": str(tmp / "access.log"),
        "/var/log/nginx/campaign-error.log": str(tmp / "error.log"),
    }


def body_limit(text: str) -> int:
    """client_max_body_size in bytes, as the config sets it (in megabytes)."""
    match = re.search(r"^\s*client_max_body_size\s+(\d+)m;", text, re.MULTILINE)
    if not match:
        raise ValueError(f"{CONFIG.name} sets no client_max_body_size in megabytes.")
    return int(match.group(1)) * 1024 * 1024


def say(message: str) -> None:
    print(f"[{PREFIX}] {message}", flush=True)


def nginx_binary() -> str:
    """Debian's nginx, installed from Debian's packages if missing. Installing it does not start
    it here (the check runs its own); on a machine where it does, the service is left as is."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if not found:
        say("installing nginx from Debian's packages")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        found = shutil.which("nginx", path="/usr/sbin:/sbin")
    version = subprocess.run([found, "-V"], capture_output=True, text=True).stderr
    if "--with-http_v2_module" not in version:
        sys.exit(f"{found} is built without HTTP/2 (nginx -V has no --with-http_v2_module).")
    return found


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (held open together so that none is handed out twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def self_signed_certificate(tmp: Path) -> None:
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


@dataclass
class Response:
    status: int
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def get(self, name: str) -> list[str]:
        """Every value of one header, in order (several lines stay several)."""
        return [value for key, value in self.headers if key == name.lower()]

    def first(self, name: str) -> str:
        values = self.get(name)
        return values[0] if values else ""


class Client:
    """curl against this run's nginx (or gunicorn): HTTP/1.1 unless asked for HTTP/2, the
    run's certificate trusted and nothing else, localhost resolved to 127.0.0.1."""

    def __init__(self, tmp: Path, *, http_port: int, https_port: int) -> None:
        self.tmp = tmp
        self.http_port = http_port
        self.https_port = https_port
        self.cookies = tmp / "cookies.txt"

    def https(self, path: str) -> str:
        return f"https://localhost:{self.https_port}{path}"

    def request(
        self,
        url: str,
        *,
        method: str = "GET",
        http2: bool = False,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        upload: Path | None = None,
        source: str = "127.0.0.1",
    ) -> Response:
        head, content = self.tmp / "response.head", self.tmp / "response.body"
        command = [
            "curl", "--silent", "--show-error", "--max-time", "30",
            "--http2" if http2 else "--http1.1",
            "--cacert", str(self.tmp / "cert.pem"),
            "--resolve", f"localhost:{self.https_port}:127.0.0.1",
            "--resolve", f"localhost:{self.http_port}:127.0.0.1",
            "--interface", source,
            "--cookie", str(self.cookies), "--cookie-jar", str(self.cookies),
            "--request", method, "--dump-header", str(head), "--output", str(content),
            "--write-out", "%{http_version}",
        ]  # fmt: skip
        for name, value in (headers or {}).items():
            command += ["--header", f"{name}: {value}"]
        for name, value in (form or {}).items():
            command += ["--data-urlencode", f"{name}={value}"]
        if upload is not None:  # as the admin's form sends a portrait
            command += ["--form", f"portrait=@{upload};type=image/jpeg"]
        done = subprocess.run(command + [url], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"curl {url}: {done.stderr.strip()}")
        # A "100 Continue" comes before the final answer: its block is the last one.
        block = head.read_bytes().decode("latin-1").strip().split("\r\n\r\n")[-1].splitlines()
        headers_seen = []
        for line in block[1:]:
            name, _, value = line.partition(":")
            headers_seen.append((name.strip().lower(), value.strip()))
        return Response(int(block[0].split()[1]), done.stdout, headers_seen, content.read_bytes())


def site_env(tmp: Path, secret: str) -> dict:
    """The production settings behind one proxy, with a rate limit small enough to reach."""
    from harness import production_env

    return {
        **production_env(
            db_url=f"sqlite:///{tmp / 'db.sqlite3'}",
            cache_url=f"filecache://{tmp / 'cache'}",
            secret=secret,
        ),
        "HTTPS": "True",
        "BEHIND_PROXY": "True",
        "TRUSTED_PROXY_COUNT": "1",
        "ALLOWED_HOSTS": "localhost",
        # The proxy's own address may read the metrics straight from gunicorn: through the
        # proxy they must still be refused.
        "METRICS_ALLOWED_ADDRESSES": "127.0.0.1",
        "MEDIA_ROOT": str(tmp / "media"),
        # Per day, so that the run never straddles the window's end.
        "RATE_LIMIT_LINKS": "3/d",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "2",
    }


def prepare_site(site) -> None:
    """Collect static files while the database is migrated and filled (two cores): the
    slowest part of the check, most of it whitenoise compressing every file."""
    quiet = {"cwd": BASE, "env": site.env, "stdout": subprocess.DEVNULL}
    python = [sys.executable, "manage.py"]
    collecting = subprocess.Popen([*python, "collectstatic", "--noinput", "-v0"], **quiet)
    try:
        subprocess.run([*python, "migrate", "--noinput", "-v0"], check=True, **quiet)
        subprocess.run([*python, "load_campaign_content", "-v0"], check=True, **quiet)
    finally:
        if collecting.wait():
            raise RuntimeError("collectstatic failed")


def write_media(media: Path) -> dict[str, bytes]:
    """Files as they could lie in MEDIA_ROOT: a portrait, and a page and a drawing with scripts
    that must never run from the site's origin."""
    from PIL import Image

    (media / "portraits").mkdir(parents=True)
    Image.new("RGB", (8, 8), "white").save(media / "portraits" / "portrait.jpg", "JPEG")
    files = {
        "portraits/portrait.jpg": (media / "portraits" / "portrait.jpg").read_bytes(),
        "portraits/upload.html": b"<!doctype html><script>alert(document.cookie)</script>",
        "portraits/drawing.svg": (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
        ),
    }
    for name, content in files.items():
        (media / name).write_bytes(content)
    # Beside MEDIA_ROOT, where a misplaced alias would reach.
    (media.parent / "outside.txt").write_bytes(b"outside MEDIA_ROOT")
    return files


class Nginx:
    def __init__(self, binary: str, tmp: Path, https_port: int) -> None:
        self.binary, self.tmp, self.https_port = binary, tmp, https_port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        (self.tmp / "temp").mkdir()
        user = "user www-data;" if os.geteuid() == 0 else ""
        (self.tmp / "nginx.conf").write_text(MAIN_CONFIG.format(user=user, tmp=self.tmp))
        command = [self.binary, "-p", str(self.tmp), "-c", str(self.tmp / "nginx.conf")]
        command += ["-e", str(self.tmp / "main-error.log")]
        tested = subprocess.run([*command, "-t"], capture_output=True, text=True)
        if tested.returncode:
            raise RuntimeError(f"nginx -t: {tested.stderr.strip()}")
        self.process = subprocess.Popen(command, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not start: {(self.tmp / 'main-error.log').read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def run_checks(client: Client, *, site_url: str, tmp: Path, slug: str, media: dict[str, bytes]):
    """Yield each Check as it is made (harness.Check: printed as it comes)."""
    from harness import Check

    # Plain HTTP: a redirect to the same path and query over HTTPS, and nothing else.
    plain = client.request(f"http://localhost:{client.http_port}/petitions/{slug}/?t={TOKEN}")
    yield Check.equal(
        "HTTP redirects to HTTPS",
        status=(plain.status, plain.first("location")),
        expected=(301, f"https://localhost/petitions/{slug}/?t={TOKEN}"),
    )

    page = client.request(client.https(f"/petitions/{slug}/"), http2=True)
    yield Check.equal(
        "HTTPS speaks HTTP/2", answer=(page.version, page.status), expected=("2", 200)
    )

    # The same page straight from gunicorn, as nginx would ask for it.
    direct = client.request(
        f"{site_url}/petitions/{slug}/",
        headers={"Host": "localhost", "X-Forwarded-Proto": "https"},
    )
    through = {name: page.get(name) for name in SECURITY_HEADERS}
    from_site = {name: direct.get(name) for name in SECURITY_HEADERS}
    yield Check(
        "security headers arrive once each, as the site sets them",
        through == from_site and all(len(values) == 1 for values in through.values()),
        {"differing": [n for n in SECURITY_HEADERS if through[n] != from_site[n]] or "none",
         "hsts": page.first("strict-transport-security")},
    )  # fmt: skip
    yield Check.equal("the proxy names no version", server=page.first("server"), expected="nginx")

    # Each request carries the proxy's id, which the site logs and answers with.
    request_id = page.first("x-request-id")
    yield Check(
        "the site answers with the proxy's request id",
        re.fullmatch(r"[0-9a-f]{32}", request_id) is not None,
        {"x-request-id": request_id or "none"},
    )
    # The metrics are the operator's, never answered through the proxy.
    metrics = client.request(client.https("/metrics"))
    yield Check.equal("the metrics are not served through the proxy", status=metrics.status,
                      expected=404)  # fmt: skip

    manifest = (BASE / "staticfiles" / "staticfiles.json").read_text()
    css = re.search(r'"([^"]+\.[0-9a-f]{12}\.css)"', manifest).group(1)
    static = client.request(
        client.https(f"/static/{css}"), http2=True, headers={"Accept-Encoding": "br, gzip"}
    )
    max_age = re.search(r"max-age=(\d+)", static.first("cache-control"))
    yield Check(
        "static files come compressed with a long cache lifetime",
        static.status == 200
        and static.first("content-encoding") in ("br", "gzip")
        and bool(max_age) and int(max_age.group(1)) >= 365 * 24 * 3600,
        {"status": static.status, "encoding": static.first("content-encoding"),
         "cache-control": static.first("cache-control")},
    )  # fmt: skip

    hsts = page.first("strict-transport-security")
    for name, content in media.items():
        image = name.endswith(".jpg")
        got = client.request(client.https(f"/media/{name}"), http2=True)
        csp = got.first("content-security-policy")
        yield Check(
            f"media {name} is served as stored, "
            + ("an image" if image else "a download that cannot run"),
            got.status == 200
            and got.body == content
            and got.first("content-type") == ("image/jpeg" if image else "application/octet-stream")
            and got.first("content-disposition") == ("" if image else "attachment")
            and got.get("x-content-type-options") == ["nosniff"]
            and "sandbox" in csp and "default-src 'none'" in csp
            and got.get("strict-transport-security") == [hsts],
            {"status": got.status, "type": got.first("content-type"),
             "disposition": got.first("content-disposition") or "none",
             "nosniff": got.get("x-content-type-options"), "csp": csp},
        )  # fmt: skip
    listing = client.request(client.https("/media/portraits/"))
    outside = client.request(client.https("/media../outside.txt"))
    yield Check(
        "media: no directory listing, nothing outside MEDIA_ROOT",
        listing.status in (403, 404) and b"outside MEDIA_ROOT" not in outside.body,
        {"listing": listing.status, "outside": outside.status},
    )

    limit = body_limit(CONFIG.read_text())
    sign = client.https(f"/petitions/{slug}/sign/")
    statuses = {}
    for label, size in (("over", limit + 1024 * 1024), ("under", limit - 1024 * 1024)):
        upload = tmp / f"upload-{label}"
        with upload.open("wb") as file:
            file.truncate(size)
        statuses[label] = client.request(sign, method="POST", upload=upload).status
        upload.unlink()
    # Under the limit, the site reads the whole form (and refuses it: no CSRF token).
    yield Check(
        f"bodies over client_max_body_size ({limit // 1024 // 1024} MB) are refused",
        statuses["over"] == 413 and statuses["under"] not in (413, 502, 504),
        {"over": statuses["over"], "under": statuses["under"]},
    )

    # Rate limits: the new-link form counts every post (3 a day here) by client address.
    form_page = client.request(client.https(f"/petitions/{slug}/"))
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form_page.body)
    new_link = client.https(f"/petitions/{slug}/new-link/")

    def post(source: str, forged: str) -> int:
        return client.request(
            new_link,
            method="POST",
            form={"csrfmiddlewaretoken": token.group(1).decode(), "email": ""},
            # What a browser sends on port 443 (Django compares it with the Host).
            headers={"Origin": "https://localhost", "X-Forwarded-For": forged},
            source=source,
        ).status

    first = [post(CLIENTS[0], forged) for forged in FORGED]
    yield Check.equal(
        "a forged X-Forwarded-For cannot choose another rate-limit bucket",
        statuses=first,
        expected=[400, 400, 400, 429],
    )
    yield Check.equal(
        "another real client has a bucket of its own",
        status=post(CLIENTS[1], FORGED[0]),
        expected=400,
    )

    client.request(client.https(f"/petitions/{slug}/confirm/?t={TOKEN}"))
    access = (tmp / "access.log").read_text()
    errors = (tmp / "error.log").read_text() + (tmp / "main-error.log").read_text()
    leaks = [text for text in (TOKEN, "?", *CLIENTS, *FORGED) if text in access or text in errors]
    yield Check(
        "the proxy's logs hold no client address and no query string",
        f"/petitions/{slug}/confirm/ " in access and not leaks,
        {"access_lines": len(access.splitlines()), "leaks": leaks or "none"},
    )


def main() -> int:
    started = time.monotonic()

    def since() -> str:
        return f"{time.monotonic() - started:.1f} s"

    sys.path.insert(0, str(BASE / "bench"))
    from harness import Check, Site

    binary = nginx_binary()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="deploy-check-") as name:
        tmp = Path(name)
        # nginx's workers (www-data when run by root) read the media and the temporary files.
        tmp.chmod(0o755)
        http_port, https_port, upstream_port = free_ports(3)
        self_signed_certificate(tmp)
        config = render(
            CONFIG.read_text(),
            replacements(
                tmp=tmp, http_port=http_port, https_port=https_port, upstream_port=upstream_port
            ),
        )
        (tmp / "campaign.conf").write_text(config)
        media = write_media(tmp / "media")
        site = Site(site_env(tmp, secrets.token_urlsafe(50)), upstream_port, name=PREFIX)
        site.env["SITE_URL"] = "https://localhost"
        nginx = Nginx(binary, tmp, https_port)
        try:
            prepare_site(site)
            say(f"migrated, collected static files, loaded the content in {since()}")
            site.start()
            nginx.start()
            say(
                f"nginx on https://localhost:{https_port} in front of gunicorn on {site.url} "
                f"after {since()}"
            )
            client = Client(tmp, http_port=http_port, https_port=https_port)
            with sqlite3.connect(tmp / "db.sqlite3") as db:
                [slug] = db.execute("SELECT slug FROM petitions_petition ORDER BY id").fetchone()
            checks = run_checks(client, site_url=site.url, tmp=tmp, slug=slug, media=media)
            for check in checks:
                failed += not check.passed
                say(str(check))
        except Exception as error:  # any crash is a failed run, reported like a check
            failed += 1
            say(str(Check.raised(error)))
        finally:
            nginx.stop()
            site.stop()
    say(
        f"{'all checks passed' if not failed else f'{failed} FAILED'} in {since()} "
        f"(gunicorn's log: {site.log_path.relative_to(BASE)})"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The work one signing costs the web process, counted in instructions: `make bench-signing-cpu`.

Throughput figures on this shared two-core machine move by a third between identical runs, so a
change of a few per cent to the signing path (sealing the signer's name and address, say) cannot
be read off `make bench` alone. Valgrind's callgrind counts the instructions the process runs,
whatever else the machine is doing: the same code, inputs and environment give the same count
(within a fraction of a per cent), and signing is bound by the web worker's CPU.

The script signs the petition through Django's whole stack in one process (the test client: every
middleware, the form, the one-statement insert with psycopg against PostgreSQL, which runs in its
own process and is not counted), as a browser does: GET the form, then POST it. It runs the
process twice under callgrind, with WARM signings and then 0 or SIGNINGS more, and reports the
difference divided by SIGNINGS: the instructions of one signing, start-up and first-use costs
excluded. Run it on two checkouts to compare them (`--url` to reuse one scratch database).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
BASE = BENCH.parent
WARM = 20
SIGNINGS = 100
SLUG = "protect-human-rights-defenders"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
RENDERED = re.compile(r'name="rendered_at" value="([^"]+)"')


def environment(url: str) -> dict:
    return {
        **os.environ,
        # This checkout's code, whichever checkout the virtual environment was installed from.
        "PYTHONPATH": str(BASE),
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "campaign.settings",
        "DEBUG": "False",
        "SECRET_KEY": "bench-signing-cpu-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "testserver",
        "HTTPS": "False",
        "SITE_URL": "http://testserver",
        "CACHE_URL": "redis://127.0.0.1:6379/14",
        "EMAIL_QUEUE": "worker",
        "EMAIL_URL": "consolemail://",
        # Caches kept for seconds in production are kept for the whole run: under callgrind a
        # run is some fifty times slower, and a page or a count rendered afresh every 5 s of that
        # would make the count depend on the machine's speed, not on the code.
        "PAGE_CACHE_SECONDS": "100000",
        "PETITION_STATS_CACHE_SECONDS": "100000",
        "SIGNATURE_MIN_FORM_SECONDS": "0",
        "RATE_LIMIT_SIGN": "100000/m",
        # Fixed keys for this scratch database only (sealed signer data; older checkouts
        # ignore them).
        "SIGNER_DATA_KEY": "vFGrldKHj3QLjMuJMZ6fBy3DYXdDIfMAlinTfNSB8Gw=",
        "SIGNER_LOOKUP_KEY": "YmVuY2gtc2lnbmluZy1jcHUtbG9va3VwLWtleS0zMmI=",
    }


def sign(count: int, start: int) -> None:
    """In the measured process: `count` signings as a browser makes them."""
    import django

    django.setup()
    from django.test import Client

    client = Client()
    for n in range(start, start + count):
        client.cookies.clear()
        body = client.get(f"/petitions/{SLUG}/").content.decode()
        data = {
            "csrfmiddlewaretoken": CSRF.search(body).group(1),
            "rendered_at": RENDERED.search(body).group(1),
            "source": "petition",
            "website": "",
            "first_name": "Bench",
            "last_name": f"Signer {n}",
            "email": f"cpu-{n}@example.org",
            "country": "NL",
        }
        response = client.post(f"/petitions/{SLUG}/sign/", data)
        if response.status_code != 302:
            raise SystemExit(f"signing {n} answered {response.status_code}")


def instructions(env: dict, measured: int, run: int) -> int:
    """Instructions of a process that signs WARM times, then `measured` times more."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        subprocess.run(
            [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                sys.executable, __file__, "--sign", str(WARM + measured),
                "--start", str(run * 10_000),
            ],
            cwd=BASE, env=env, check=True, capture_output=True,
        )  # fmt: skip
        summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
        return int(summary.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a PostgreSQL database to migrate and sign into")
    parser.add_argument("--sign", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    if options.sign is not None:
        sign(options.sign, options.start)
        return
    url = options.url or os.environ.get("DATABASE_URL", "postgres://root@127.0.0.1:5432/test")
    env = environment(url)
    setup = (["migrate", "--noinput"], ["load_campaign_content"], ["collectstatic", "--noinput"])
    for command in setup:
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=BASE, env=env, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
    per_signing = []
    for round_ in range(options.rounds):
        base = instructions(env, 0, 2 * round_)
        full = instructions(env, SIGNINGS, 2 * round_ + 1)
        per_signing.append((full - base) / SIGNINGS)
        print(f"round {round_ + 1}: {per_signing[-1] / 1e6:.2f} M instructions per signing")
    print(f"median: {sorted(per_signing)[len(per_signing) // 2] / 1e6:.2f} M")


if __name__ == "__main__":
    main()

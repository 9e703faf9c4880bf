"""Signing and confirming as browsers do, for bench/run.py (scenarios 4 and 5).

Each simulated browser repeats, until the time is up: clear its cookies, GET the petition page,
read the CSRF token and form timestamp, POST the form with a new email address, and count a
success only for the redirect to "check your inbox". Confirmers GET an emailed confirmation link,
read the CSRF token, and POST the "Confirm my signature" button; success is the redirect to the
thank-you page. Every request carries its own X-Forwarded-For address, so that the rate limiter
(on, as in production) sees each signer as its own client. Requests go to 127.0.0.1 only.

Prints one JSON object: counts, throughput and latency percentiles.
"""

import argparse
import asyncio
import itertools
import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
RENDERED = re.compile(r'name="rendered_at" value="([^"]+)"')
TIMEOUT = aiohttp.ClientTimeout(total=30)
_addresses = itertools.count(1)


def next_address() -> str:
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


class Outcomes:
    """What one kind of request (signing, or confirming) got, over the whole run."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.ok = 0
        self.failed = 0
        self.errors: dict[str, int] = {}
        self.acknowledged: list[str] = []  # what the site said it saved: emails, or tokens

    def error(self, what: str) -> None:
        self.failed += 1
        self.errors[what] = self.errors.get(what, 0) + 1


async def timed(outcomes: Outcomes, request):
    """Send a request (an aiohttp request context, not yet started) and time it."""
    started = time.perf_counter()
    try:
        async with request as response:
            body = await response.text()
            return response, body
    finally:
        outcomes.latencies.append((time.perf_counter() - started) * 1000)


def form_data(body: str, **fields: str) -> dict | None:
    """The signing form as a browser posts it (CSRF token, form timestamp, the empty honeypot)
    with these fields filled in; None when the page has no form."""
    token, rendered = CSRF.search(body), RENDERED.search(body)
    if not token or not rendered:
        return None
    return {
        "csrfmiddlewaretoken": token.group(1),
        "rendered_at": rendered.group(1),
        "source": "petition",
        "website": "",
        **fields,
    }


def status_error(stage: str, status: int) -> str:
    """Errors by kind: the fault suite tells a calm 503 from any other server error."""
    if status >= 500:
        return "503" if status == 503 else "5xx"
    return f"{stage} {status}"


async def submit(outcomes: Outcomes, session, url: str, data: dict, headers: dict, *,
                 landing: str, stage: str, acknowledged: str) -> None:  # fmt: skip
    """POST a form as a browser does; a success is the redirect to the `landing` page, and the
    site has then acknowledged `acknowledged` (an address, or a token)."""
    response, _body = await timed(
        outcomes, session.post(url, data=data, headers=headers, allow_redirects=False)
    )
    # The landing page's path: the thank-you page's address carries the signer's receipt token.
    if response.status == 302 and urlsplit(response.headers["Location"]).path.endswith(landing):
        outcomes.ok += 1
        outcomes.acknowledged.append(acknowledged)
    else:
        outcomes.error(status_error(stage, response.status))


async def signer(
    bases: list[str], slug: str, prefix: str, deadline: float, outcomes: Outcomes, n: int
):
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=TIMEOUT) as session:
        for i in itertools.count():
            # Spread over the instances, so that a form from one is often posted to another.
            form_base = bases[(n + i) % len(bases)]
            post_base = bases[(n + i + 1) % len(bases)]
            if time.monotonic() >= deadline:
                return
            jar.clear()
            address = {"X-Forwarded-For": next_address()}
            try:
                response, body = await timed(
                    outcomes, session.get(f"{form_base}/petitions/{slug}/", headers=address)
                )
                data = form_data(
                    body,
                    first_name="Bench",
                    last_name=f"Signer {n}-{i}",
                    email=f"{prefix}-{n}-{i}@bench.example",
                    country=("NL", "BE", "DE", "PL", "HU", "TR", "UA", "AZ")[i % 8],
                )
                if response.status != 200 or not data:
                    outcomes.error(status_error("form", response.status))
                    continue
                await submit(
                    outcomes, session, f"{post_base}/petitions/{slug}/sign/", data, address,
                    landing="/check-your-inbox/", stage="sign", acknowledged=data["email"],
                )  # fmt: skip
            except (TimeoutError, aiohttp.ClientError):
                outcomes.error("connection")


async def confirmer(
    bases: list[str], slug: str, links: list[str], deadline: float, outcomes: Outcomes, n: int
):
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=TIMEOUT) as session:
        for i in itertools.count():
            if not links or time.monotonic() >= deadline:
                return
            token = links.pop()
            jar.clear()
            address = {"X-Forwarded-For": next_address()}
            url = f"{bases[(n + i) % len(bases)]}/petitions/{slug}/confirm/"
            try:
                response, body = await timed(
                    outcomes, session.get(url, params={"t": token}, headers=address)
                )
                csrf = CSRF.search(body)
                if response.status != 200 or not csrf:
                    outcomes.error(status_error("confirm page", response.status))
                    continue
                data = {"csrfmiddlewaretoken": csrf.group(1), "t": token}
                await submit(
                    outcomes, session, url, data, address,
                    landing="/thank-you/", stage="confirm", acknowledged=token,
                )  # fmt: skip
            except (TimeoutError, aiohttp.ClientError):
                outcomes.error("connection")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(outcomes: Outcomes, seconds: float) -> dict:
    return {
        "ok": outcomes.ok,
        "failed": outcomes.failed,
        "errors": outcomes.errors,
        "requests": len(outcomes.latencies),
        "per_second": outcomes.ok / seconds,
        "requests_per_second": len(outcomes.latencies) / seconds,
        "p50": percentile(outcomes.latencies, 50),
        "p95": percentile(outcomes.latencies, 95),
        "p99": percentile(outcomes.latencies, 99),
        "max": max(outcomes.latencies, default=0.0),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description="Sign and confirm like browsers do.")
    parser.add_argument(
        "--base", action="append", required=True, help="e.g. http://127.0.0.1:8020; repeatable"
    )
    parser.add_argument(
        "--acknowledged",
        help='write what the site acknowledged to this file: {"signings": [emails], '
        '"confirmations": [tokens]}',
    )
    parser.add_argument("--slug", required=True)
    parser.add_argument("--signers", type=int, default=16)
    parser.add_argument("--confirmers", type=int, default=0)
    parser.add_argument("--links", help="file of confirmation tokens, one per line")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--prefix", default="bench")
    options = parser.parse_args()
    if not all(base.startswith(("http://127.", "http://localhost")) for base in options.base):
        raise SystemExit("bench/signing.py only sends to this machine (127.0.0.1)")

    links = Path(options.links).read_text().split() if options.links else []
    # What the site acknowledged; "confirmed" is kept for rows in the database (harness.py).
    signings, confirmations = Outcomes(), Outcomes()
    started = time.monotonic()
    deadline = started + options.seconds
    tasks = [
        signer(options.base, options.slug, options.prefix, deadline, signings, n)
        for n in range(options.signers)
    ] + [
        confirmer(options.base, options.slug, links, deadline, confirmations, n)
        for n in range(options.confirmers)
    ]
    await asyncio.gather(*tasks)
    if options.acknowledged:
        Path(options.acknowledged).write_text(
            json.dumps(
                {"signings": signings.acknowledged, "confirmations": confirmations.acknowledged}
            )
        )
    seconds = time.monotonic() - started
    sign, confirm = summary(signings, seconds), summary(confirmations, seconds)
    print(json.dumps({"sign": sign, "confirm": confirm, "seconds": seconds}))


if __name__ == "__main__":
    asyncio.run(main())

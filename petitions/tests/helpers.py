import contextlib
import re
import time

from django.core import signing
from django.db import connection

from petitions.forms import _TIMESTAMP_SALT


def old_enough_timestamp() -> str:
    """A form timestamp from a minute ago: long enough for a person to have filled it in."""
    return signing.dumps(time.time() - 60, salt=_TIMESTAMP_SALT)


def links_in(body: str) -> dict[str, str]:
    """The confirm, withdraw and privacy links in an email body, by kind."""
    return {
        kind: url
        for url in re.findall(r"https?://\S+", body)
        for kind in ("confirm", "withdraw", "privacy")
        if f"/{kind}/" in url
    }


def path_of(url: str, site: str = "https://campaign.example") -> str:
    assert url.startswith(site), url
    return url[len(site) :]


@contextlib.contextmanager
def failing_statements():
    """The SQL statements the database refuses meanwhile. PostgreSQL writes each refused
    statement, with its values, into its server log, so the site's normal paths must refuse none."""
    failed: list[str] = []

    def record(execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except Exception:
            failed.append(sql)
            raise

    with connection.execute_wrapper(record):
        yield failed

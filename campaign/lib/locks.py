"""A named lock that one process at a time holds, across every machine that shares the database,
so that scheduled work started twice (two timers, a timer and a person, a slow run and the next)
runs once.

On PostgreSQL it is a session-level advisory lock (`pg_try_advisory_lock`) taken on a
connection of its own, opened for the lock and closed with it. The job keeps using the ordinary
connection and may commit as often as it likes; the lock lasts until the block ends or the
process dies (the server ends the session and releases it). It needs a session that stays the
same: PgBouncer in session mode, not transaction mode.

On any other database (SQLite, for development and small sites) it is an exclusive `flock` on a
file beside the database file: it holds between processes and threads of one machine, which
is every process that can reach an SQLite file, and is released when the process dies.

Nobody waits: `try_lock` says at once whether the lock was free, and the caller skips its work
when it was not.
"""

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, connections

# Keeps the keys of this project's locks apart from other users of advisory locks on the server.
_NAMESPACE = b"campaign.lib.locks:"


def lock_key(name: str) -> int:
    """The advisory lock's key for a name: a signed 64-bit integer, as PostgreSQL wants it."""
    digest = hashlib.sha256(_NAMESPACE + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def try_lock(name: str, *, using: str = DEFAULT_DB_ALIAS) -> Iterator[bool]:
    """Hold the lock called `name` for the block if nobody holds it. Yields True when this
    block holds it, False when another process (or thread) does: the block should then leave
    the work to that one."""
    if connections[using].vendor == "postgresql":
        with _postgresql_lock(name, using) as held:
            yield held
    else:
        with _file_lock(name, using) as held:
            yield held


@contextlib.contextmanager
def _postgresql_lock(name: str, using: str) -> Iterator[bool]:
    # A connection of its own: the job's connection may be closed and reopened (CONN_MAX_AGE,
    # health checks) without losing the lock, and a lock never outlives its block in a
    # connection that is reused afterwards.
    connection = connections.create_connection(using)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(name)])
            held = bool(cursor.fetchone()[0])
        yield held
    finally:
        # Ending the session releases the lock.
        connection.close()


def _lock_path(name: str, using: str) -> Path:
    connection = connections[using]
    database = str(connection.settings_dict.get("NAME") or "")
    digest = hashlib.sha256(f"{database}\0{name}".encode()).hexdigest()[:16]
    in_memory = database in ("", ":memory:") or "mode=memory" in database
    if connection.vendor != "sqlite" or in_memory:
        return Path(tempfile.gettempdir()) / f"campaign-lock-{digest}"
    # Beside the database file, where every process that uses the database can reach it (a
    # private /tmp, as systemd's PrivateTmp gives, would keep processes apart), named after it.
    path = Path(database).resolve()
    return path.with_name(f"{path.name}.lock-{digest}")


@contextlib.contextmanager
def _file_lock(name: str, using: str) -> Iterator[bool]:
    descriptor = os.open(_lock_path(name, using), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)

"""One holder at a time for a named lock, across processes and machines (campaign.lib.locks):
an advisory lock on PostgreSQL, a file lock beside the database elsewhere."""

import os
import signal
import subprocess
import sys
import threading

import pytest
from django.db import connection

from campaign.lib import locks
from campaign.lib.locks import lock_key, try_lock

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_refuses_a_second_holder_and_frees_the_lock_after_the_first():
    with try_lock("nightly") as first:
        assert first is True
        with try_lock("nightly") as second:
            assert second is False
        with try_lock("another job") as other:
            assert other is True
    with try_lock("nightly") as after:
        assert after is True


def test_it_refuses_a_holder_in_another_thread():
    seen: list[bool] = []

    def contender() -> None:
        with try_lock("nightly") as held:
            seen.append(held)

    with try_lock("nightly") as held:
        assert held
        thread = threading.Thread(target=contender)
        thread.start()
        thread.join(timeout=30)
    assert seen == [False]


def test_it_frees_the_lock_when_the_block_raises():
    with pytest.raises(RuntimeError), try_lock("nightly") as held:
        assert held
        raise RuntimeError("the job failed")
    with try_lock("nightly") as held:
        assert held


def test_keys_are_stable_signed_64_bit_integers():
    assert lock_key("scheduled:purge_unconfirmed") == lock_key("scheduled:purge_unconfirmed")
    assert lock_key("a") != lock_key("b")
    assert all(-(2**63) <= lock_key(name) < 2**63 for name in ("a", "b", "scheduled:x"))


@pytest.mark.postgresql
def test_on_postgresql_another_session_holding_the_key_refuses_it_until_that_session_ends():
    """The lock is PostgreSQL's, so any process on any machine (here: a session of its own,
    as another server's job would hold it) keeps others out, until its session ends, as when
    that process dies."""
    import psycopg

    settings = connection.settings_dict
    other = psycopg.connect(
        dbname=settings["NAME"], host=settings["HOST"] or None, port=settings["PORT"] or None,
        user=settings["USER"] or None, password=settings["PASSWORD"] or None, autocommit=True,
    )  # fmt: skip
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [lock_key("nightly")])
        with try_lock("nightly") as held:
            assert held is False
    finally:
        other.close()
    with try_lock("nightly") as held:
        assert held is True


@pytest.mark.postgresql
def test_on_postgresql_the_lock_is_held_by_a_session_of_its_own():
    """The job's own connection holds no lock: closing or reopening it (CONN_MAX_AGE, health
    checks) cannot release the lock under a running job."""
    with try_lock("nightly") as held:
        assert held
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
                "pg_backend_pid()"
            )
            assert cursor.fetchone()[0] == 0
        connection.close()
        with try_lock("nightly") as second:
            assert second is False


def test_the_file_lock_is_freed_when_its_process_dies():
    """Elsewhere than on PostgreSQL: a lock file beside the database; a process killed while
    holding it leaves it free (the kernel drops the lock)."""
    path = locks._lock_path("nightly", "default")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('held', flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with locks._file_lock("nightly", "default") as held:
            assert held is False
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    with locks._file_lock("nightly", "default") as held:
        assert held is True


def test_on_sqlite_the_lock_file_is_beside_the_database_file(monkeypatch, tmp_path):
    """Where every process using the database finds it, whatever /tmp each one sees."""
    monkeypatch.setattr(connection, "vendor", "sqlite")
    monkeypatch.setitem(connection.settings_dict, "NAME", str(tmp_path / "site.sqlite3"))
    path = locks._lock_path("nightly", "default")
    assert path.parent == tmp_path
    assert path.name.startswith("site.sqlite3.lock-")
    assert locks._lock_path("weekly", "default") != path

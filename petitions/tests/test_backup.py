"""Backups that restore (`manage.py backup`, `manage.py restore`, campaign/lib/backup.py): an
encrypted custom-format dump with its checksum, that gives back the same rows in a new database,
and that shows nobody to whoever finds it."""

import hashlib
import os
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from campaign.lib.backup import (
    BackupError,
    database_settings,
    recipient_arguments,
    table_count,
    write_backup,
)
from petitions.models import Signature, SignatureTally

EMAIL, FIRST, LAST = "backed.up.signer@example.org", "Philippa", "Backupwood"


@pytest.fixture
def age_keys(tmp_path) -> tuple[str, Path]:
    """A recipient's public key and the identity file holding its private key. Without age the
    tests are skipped, unless REQUIRE_AGE is set (as .ci/run does, having installed it)."""
    if not (shutil.which("age") and shutil.which("age-keygen")):
        if os.environ.get("REQUIRE_AGE"):
            pytest.fail("REQUIRE_AGE is set but age is not installed (apt-get install age)")
        pytest.skip("age is not installed (apt-get install age)")
    identity = tmp_path / "backup-identity.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return public, identity


def test_it_names_recipients_by_key_or_file(tmp_path):
    keys = tmp_path / "recipients.txt"
    keys.write_text("age1example\n")
    assert recipient_arguments(["age1abc", str(keys)]) == [
        "--recipient", "age1abc", "--recipients-file", str(keys),
    ]  # fmt: skip
    with pytest.raises(BackupError, match="no such file"):
        recipient_arguments([str(tmp_path / "missing.txt")])
    with pytest.raises(BackupError, match="at least one recipient"):
        recipient_arguments([])


def test_it_backs_up_postgresql_only(tmp_path):
    with pytest.raises(BackupError, match="need PostgreSQL"):
        write_backup(
            database={"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"},
            recipients=["age1abc"], output=tmp_path,
        )  # fmt: skip


# On PostgreSQL ---------------------------------------------------------------------------------


def url_of(name: str) -> str:
    database = connection.settings_dict
    password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
    return (
        f"postgres://{database['USER']}{password}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{name}"
    )


@pytest.fixture
def fresh_database():
    """A new, empty database beside the test database (dropped afterwards): its URL."""
    import psycopg

    name = f"{connection.settings_dict['NAME']}_restored"
    admin = url_of("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url_of(name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rows(url: str) -> dict[str, list[tuple]]:
    """The signatures and the count as stored, column for column (sealed values unopened)."""
    import psycopg

    signature, tally = Signature._meta.db_table, SignatureTally._meta.db_table
    with psycopg.connect(url) as conn:
        return {
            "signatures": conn.execute(f"SELECT * FROM {signature} ORDER BY id").fetchall(),
            "tally": conn.execute(
                f"SELECT petition_id, country, sum(count) FROM {tally} GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall(),
        }


def quietly(*arguments: str) -> str:
    output = StringIO()
    call_command(*arguments, stdout=output)
    return output.getvalue()


def backup(public_key: str, folder: Path) -> Path:
    quietly("backup", "--recipient", public_key, "--output", str(folder))
    [path] = folder.glob("*.dump.age")
    return path


@pytest.fixture
def signed(petition, make_signature) -> list[Signature]:
    return [
        make_signature(petition, confirmed=True, email=EMAIL, first_name=FIRST, last_name=LAST,
                       wants_updates=True),
        make_signature(petition, confirmed=True, country="BE"),
        make_signature(petition),
    ]  # fmt: skip


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_it_writes_an_encrypted_dump_with_its_checksum_and_restores_the_same_rows(
    signed, age_keys, tmp_path, fresh_database
):
    public_key, identity = age_keys
    path = backup(public_key, tmp_path / "backups")

    data = path.read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n")
    assert b"PGDMP" not in data  # pg_dump's custom format, nowhere in clear
    for marker in (EMAIL, FIRST, LAST, "petitions_signature"):
        assert marker.encode() not in data
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    checksum = path.with_name(path.name + ".sha256").read_text()
    assert checksum == f"{hashlib.sha256(data).hexdigest()}  {path.name}\n"
    assert sorted(path.parent.iterdir()) == sorted([path, path.with_name(path.name + ".sha256")])

    quietly("restore", str(path), "--identity", str(identity), "--database-url", fresh_database)
    source, restored = rows(url_of(connection.settings_dict["NAME"])), rows(fresh_database)
    assert len(source["signatures"]) == 3
    assert restored == source
    assert restored["tally"] == [(signed[0].petition_id, "BE", 1), (signed[0].petition_id, "NL", 1)]


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_even_the_decrypted_dump_shows_no_signer(signed, age_keys, tmp_path):
    """The signers' data is sealed in the database, with keys kept out of it: the backup's
    recipients see the rows, not the people."""
    public_key, identity = age_keys
    path = backup(public_key, tmp_path / "backups")
    decrypted = subprocess.run(
        f"age --decrypt --identity {identity} {path} | pg_restore --file -",
        shell=True, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "COPY public.petitions_signature" in decrypted
    for marker in (EMAIL, FIRST, LAST, "backed.up.signer"):
        assert marker.lower() not in decrypted.lower()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_restore_refuses_a_database_that_is_not_empty_unless_forced(
    signed, age_keys, tmp_path, fresh_database
):
    public_key, identity = age_keys
    path = backup(public_key, tmp_path / "backups")
    arguments = ["restore", str(path), "--identity", str(identity), "--database-url"]
    quietly(*arguments, fresh_database)
    Signature.objects.filter(pk=signed[2].pk).delete()  # in the source: the backup keeps it

    with pytest.raises(CommandError, match="is not empty"):
        call_command(*arguments, url_of(connection.settings_dict["NAME"]))
    assert Signature.objects.count() == 2

    quietly(*arguments, url_of(connection.settings_dict["NAME"]), "--force")
    assert Signature.objects.count() == 3


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_restore_refuses_a_backup_that_does_not_match_its_checksum(
    signed, age_keys, tmp_path, fresh_database
):
    public_key, identity = age_keys
    path = backup(public_key, tmp_path / "backups")
    assert "matches its checksum" in quietly("restore", str(path), "--check")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))

    with pytest.raises(CommandError, match="does not match its checksum"):
        call_command("restore", str(path), "--identity", str(identity), "--database-url",
                     fresh_database)  # fmt: skip
    assert table_count(database_settings(fresh_database)) == 0

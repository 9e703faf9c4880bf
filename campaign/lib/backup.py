"""Encrypted PostgreSQL backups that restore: `manage.py backup` and `manage.py restore`.

A backup is pg_dump's custom format piped straight into age (https://age-encryption.org, Debian's
`age` package), encrypted for one or more recipients' public keys: the plain dump never touches
the disk, and the file is useless to whoever finds it without a recipient's identity (the
private key, kept off the machines that hold the backups). Beside it, a `.sha256` file in
sha256sum's format, for `sha256sum -c` and for `restore`, which checks it before anything else.

Signers' names and addresses are sealed in the database already (campaign.lib.sealed), and the
keys that open them are never in it, so even a decrypted backup shows nobody without
SIGNER_DATA_KEY: the backup and the signer keys are kept apart, each useless alone.

The file is written under a hidden partial name and renamed once pg_dump and age have both
succeeded, so a backup that failed never looks complete.
"""

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import environ

SUFFIX = ".dump.age"
_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that could not be done, with a sentence saying why."""


@dataclass(frozen=True)
class Backup:
    path: Path
    checksum_path: Path
    sha256: str
    size: int


def database_settings(url: str) -> dict:
    """Django's settings for a database URL (the form DATABASE_URL takes)."""
    return environ.Env.db_url_config(url)


def _require_postgresql(database: dict) -> None:
    if "postgresql" not in database.get("ENGINE", ""):
        raise BackupError(
            "Backups need PostgreSQL (DATABASE_URL=postgres://...): an SQLite database is "
            "backed up by copying its file with sqlite3's .backup command."
        )


def libpq_environment(database: dict) -> dict[str, str]:
    """The environment that points pg_dump, pg_restore and psql at a database (no password on
    a command line, where other users could read it)."""
    environment = dict(os.environ)
    for variable, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER"),
                          ("PGPASSWORD", "PASSWORD"), ("PGDATABASE", "NAME")):  # fmt: skip
        if database.get(key):
            environment[variable] = str(database[key])
    return environment


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        package = "age" if name.startswith("age") else "postgresql-client"
        raise BackupError(f"{name} is not installed (apt-get install {package}).")
    return path


def recipient_arguments(recipients: list[str]) -> list[str]:
    """age's arguments for each recipient: a public key (age1...), or a file of them (one a
    line, as age -R reads it; SSH public keys work too)."""
    if not recipients:
        raise BackupError("Name at least one recipient: an age public key or a file of them.")
    arguments = []
    for recipient in recipients:
        if recipient.startswith("age1"):
            arguments += ["--recipient", recipient]
        elif Path(recipient).is_file():
            arguments += ["--recipients-file", recipient]
        else:
            raise BackupError(
                "A recipient must be an age public key (age1...) or a file of them; "
                f"no such file: {recipient}"
            )
    return arguments


def _raise_failures(*steps: tuple[subprocess.Popen, str, object]) -> None:
    """One error naming every step of a pipeline that failed, with what each wrote to stderr:
    when one end fails the other usually fails too (a closed pipe), and the first cause is in
    one of the two."""
    failures = []
    for process, what, errors in steps:
        if process.returncode:
            errors.seek(0)
            text = " ".join(errors.read().decode(errors="replace").split())
            failures.append(f"{what} exited {process.returncode}: {text or 'no message'}")
    if failures:
        raise BackupError("; ".join(failures))


def write_backup(*, database: dict, recipients: list[str], output: Path) -> Backup:
    """Dump the database, encrypted for the recipients, into the folder `output`."""
    _require_postgresql(database)
    age_arguments = recipient_arguments(recipients)
    output.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = output / f"campaign-{database['NAME']}-{stamp}{SUFFIX}"
    partial = output / f".{path.name}.partial"
    digest, size = hashlib.sha256(), 0
    with tempfile.TemporaryFile() as dump_errors, tempfile.TemporaryFile() as age_errors:
        dump = subprocess.Popen(
            [_tool("pg_dump"), "--format=custom"],
            env=libpq_environment(database), stdout=subprocess.PIPE, stderr=dump_errors,
        )  # fmt: skip
        age = subprocess.Popen(
            [_tool("age"), "--encrypt", *age_arguments],
            stdin=dump.stdout, stdout=subprocess.PIPE, stderr=age_errors,
        )  # fmt: skip
        dump.stdout.close()  # age holds the pipe now: pg_dump sees it close if age stops
        try:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(descriptor, "wb") as target:
                while chunk := age.stdout.read(_CHUNK):
                    target.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                target.flush()
                os.fsync(target.fileno())
            age.wait()
            dump.wait()
            _raise_failures((dump, "pg_dump", dump_errors), (age, "age", age_errors))
        except BaseException:
            for process in (dump, age):
                if process.poll() is None:
                    process.kill()
                    process.wait()
            partial.unlink(missing_ok=True)
            raise
        finally:
            age.stdout.close()
    partial.rename(path)
    checksum_path = path.with_name(path.name + ".sha256")
    checksum_path.write_text(f"{digest.hexdigest()}  {path.name}\n")
    return Backup(path=path, checksum_path=checksum_path, sha256=digest.hexdigest(), size=size)


def prune(output: Path, *, database: dict, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups of this database in `output` (their names sort
    by time), with their checksums. Returns the backups deleted."""
    backups = sorted(output.glob(f"campaign-{database['NAME']}-*{SUFFIX}"))
    old = backups[:-keep] if keep > 0 else backups
    for path in old:
        path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        path.unlink()
    return old


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path) -> str:
    """Check a backup against the checksum beside it; returns the checksum."""
    if not path.is_file():
        raise BackupError(f"No such backup: {path}")
    checksum_path = path.with_name(path.name + ".sha256")
    if not checksum_path.is_file():
        raise BackupError(f"No checksum beside the backup: {checksum_path} is missing.")
    expected = checksum_path.read_text().split()[0].lower()
    actual = file_sha256(path)
    if actual != expected:
        raise BackupError(
            f"The backup does not match its checksum ({actual} instead of {expected}): it is "
            "damaged or not the file the checksum was written for."
        )
    return actual


def table_count(database: dict) -> int:
    """Tables, sequences and views in the database outside PostgreSQL's own schemas."""
    import psycopg

    arguments = {
        "dbname": database["NAME"], "host": database.get("HOST") or None,
        "port": database.get("PORT") or None, "user": database.get("USER") or None,
        "password": database.get("PASSWORD") or None, "connect_timeout": 10,
    }  # fmt: skip
    with psycopg.connect(**{k: v for k, v in arguments.items() if v is not None}) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'S', 'v', 'm') AND n.nspname NOT IN "
            "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'"
        ).fetchone()[0]


def restore_backup(*, path: Path, identity: Path, database: dict, force: bool = False) -> None:
    """Restore a backup into a database: after checking its checksum, and only into an empty
    database unless `force` (which drops the objects the backup brings back first). One
    transaction: a restore that fails leaves the database as it was."""
    _require_postgresql(database)
    if not identity.is_file():
        raise BackupError(f"No such identity (age private key) file: {identity}")
    verify(path)
    if not force and (tables := table_count(database)):
        raise BackupError(
            f"The database {database['NAME']} is not empty ({tables} tables and sequences): "
            "restore into a new, empty database, or add --force to replace what is there."
        )
    replace = ["--clean", "--if-exists"] if force else []
    with tempfile.TemporaryFile() as age_errors, tempfile.TemporaryFile() as restore_errors:
        age = subprocess.Popen(
            [_tool("age"), "--decrypt", "--identity", str(identity), str(path)],
            stdout=subprocess.PIPE, stderr=age_errors,
        )  # fmt: skip
        # Read from the pipe: the decrypted dump never touches the disk. (Its owners and
        # grants are left out: the restoring role owns what it creates.)
        restore = subprocess.Popen(
            [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
             "--single-transaction", *replace, "--dbname", database["NAME"]],
            env=libpq_environment(database), stdin=age.stdout, stderr=restore_errors,
        )  # fmt: skip
        age.stdout.close()
        restore.wait()
        age.wait()
        _raise_failures((age, "age", age_errors), (restore, "pg_restore", restore_errors))

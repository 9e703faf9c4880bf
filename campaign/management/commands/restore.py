from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaign.lib.backup import BackupError, database_settings, restore_backup, verify


class Command(BaseCommand):
    help = (
        "Restore a backup written by `manage.py backup`: checks it against its .sha256 file, "
        "decrypts it with an age identity (private key) and pipes it into pg_restore, in one "
        "transaction. Only into an empty database unless --force."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("backup", type=Path, help="The .dump.age file.")
        parser.add_argument(
            "--identity", type=Path, metavar="KEYFILE",
            help="The age identity file holding the private key of one of the recipients.",
        )  # fmt: skip
        parser.add_argument(
            "--database-url", metavar="URL",
            help="The database to restore into (default: this site's DATABASE_URL).",
        )  # fmt: skip
        parser.add_argument(
            "--force", action="store_true",
            help="Replace what the database holds (drops the objects the backup restores).",
        )  # fmt: skip
        parser.add_argument(
            "--check", action="store_true", help="Only check the backup against its checksum."
        )

    def handle(self, *args, backup: Path, identity: Path | None, database_url: str | None,
               force: bool, check: bool, **options) -> None:  # fmt: skip
        database = (
            database_settings(database_url) if database_url else settings.DATABASES["default"]
        )
        try:
            if check:
                self.stdout.write(f"{backup.name} matches its checksum {verify(backup)}.")
                return
            if identity is None:
                raise CommandError("--identity is required to restore.")
            restore_backup(path=backup, identity=identity, database=database, force=force)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Restored {backup.name} into {database['NAME']}. Start the site with the same "
            "SIGNER_DATA_KEY and SIGNER_LOOKUP_KEY as when it was taken, then run "
            "`manage.py migrate` (if the code is newer) and `manage.py recount_signatures`."
        )

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaign.lib.backup import BackupError, prune, write_backup


class Command(BaseCommand):
    help = (
        "Back up the PostgreSQL database: pg_dump's custom format piped straight into age, "
        "encrypted for the recipients' public keys, with a .sha256 file beside it. Nothing "
        "unencrypted is written to disk. Restore with `manage.py restore`."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--recipient", action="append", required=True, metavar="KEY_OR_FILE",
            help="An age public key (age1...), or a file of them, one a line (may be repeated).",
        )  # fmt: skip
        parser.add_argument(
            "--output", required=True, type=Path, metavar="DIR",
            help="The folder to write the backup into (created if missing).",
        )  # fmt: skip
        parser.add_argument(
            "--keep", type=int, metavar="N",
            help="Then delete all but the newest N backups of this database in the folder.",
        )  # fmt: skip

    def handle(self, *args, recipient: list[str], output: Path, keep: int | None, **options):
        database = settings.DATABASES["default"]
        if keep is not None and keep < 1:
            raise CommandError("--keep must be at least 1.")
        try:
            backup = write_backup(database=database, recipients=recipient, output=output)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Wrote {backup.path} ({backup.size:,} bytes, encrypted), sha256 {backup.sha256} "
            f"in {backup.checksum_path.name}."
        )
        if keep is not None:
            for old in prune(output, database=database, keep=keep):
                self.stdout.write(f"Deleted the older backup {old.name}.")

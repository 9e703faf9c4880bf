import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from petitions import exports
from petitions.models import ExportRecord, Petition, Signature


class Command(BaseCommand):
    help = (
        "Export a petition's signatures as CSV, the same as the admin's export: confirmed only "
        "unless --all, never fraudulent ones, streamed so memory stays flat. Recorded."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="The petition's slug.")
        parser.add_argument(
            "--all", action="store_true", help="Include signatures not yet confirmed."
        )
        parser.add_argument("--output", help="File to write (default: standard output).")

    def handle(self, *args, slug: str, all: bool, output: str | None, **options) -> None:
        petition = Petition.objects.filter(slug=slug).first()
        if petition is None:
            raise CommandError(f"No petition with slug: {slug}")
        queryset = exports.signatures_for_export(
            Signature.objects.filter(petition=petition), include_pending=all
        )
        record = exports.start_record(
            kind=ExportRecord.Kind.COMMAND_CSV,
            username=f"{getpass.getuser()} (command line)",
            petition=petition,
            filters={"petition": slug, "include": "all" if all else "confirmed"},
        )
        if output:
            with open(output, "w", encoding="utf-8", newline="") as stream:
                count = exports.write_csv(queryset, stream, record)
            self.stderr.write(f"{count} signatures written to {output}")
        else:
            count = exports.write_csv(queryset, sys.stdout, record)
            self.stderr.write(f"{count} signatures written")

import datetime as dt

from django.core.management.base import BaseCommand

from petitions.services import anonymise_closed


class Command(BaseCommand):
    help = (
        "Remove the personal data of signatures of petitions closed more than --after days "
        "ago; the counts stay. Run daily."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--after", type=int, required=True, metavar="DAYS")

    def handle(self, *args, after: int, **options) -> None:
        result = anonymise_closed(after=dt.timedelta(days=after))
        if not result:
            self.stdout.write(f"No petition closed more than {after} days ago.")
        for slug, erased in result.items():
            self.stdout.write(f"{slug}: {erased} signatures anonymised.")

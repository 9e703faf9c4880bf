import datetime as dt

from django.core.management.base import BaseCommand

from petitions.services import purge_unconfirmed


class Command(BaseCommand):
    help = "Delete signatures never confirmed and older than --older-than days. Run daily."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")

    def handle(self, *args, older_than: int, **options) -> None:
        deleted = purge_unconfirmed(older_than=dt.timedelta(days=older_than))
        self.stdout.write(f"{deleted} unconfirmed signatures older than {older_than} days deleted.")

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from petitions.services import erase_signer


class Command(BaseCommand):
    help = (
        "Erase one signer's personal data across all petitions (a request to be forgotten). "
        "Confirmed signatures stay in the counts without anything that identifies them."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email: str, **options) -> None:
        try:
            erased = erase_signer(email)
        except ValidationError as exc:
            # Not echoed back: terminals' scrollback and shell logs keep what is printed.
            raise CommandError("That is not an email address the petition form accepts.") from exc
        self.stdout.write(f"{erased} signatures erased.")

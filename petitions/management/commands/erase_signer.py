from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

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
            validate_email(email.strip())
        except ValidationError as exc:
            raise CommandError(f"Not an email address: {email}") from exc
        erased = erase_signer(email)
        self.stdout.write(f"{erased} signatures erased.")

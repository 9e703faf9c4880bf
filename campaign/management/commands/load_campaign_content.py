from django.core.management.base import BaseCommand

from partners.content import load_partners
from petitions.content import load_petition
from stories.content import load_stories


class Command(BaseCommand):
    help = (
        "Create the campaign's stories, milestones and petition where they are missing. "
        "Safe to run again: nothing is duplicated and staff edits are kept."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Put the seed text back over staff edits of the seeded items.",
        )

    def handle(self, *args, reset: bool = False, **options) -> None:
        for label, load in (
            ("Partners", load_partners),
            ("Stories and milestones", load_stories),
            ("Petition", load_petition),
        ):
            result = load(reset=reset)
            self.stdout.write(f"{label}: {result['created']} created, {result['updated']} reset.")

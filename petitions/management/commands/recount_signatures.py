from django.core.management.base import BaseCommand, CommandError

from petitions.models import Petition
from petitions.services import recount_signatures


class Command(BaseCommand):
    help = (
        "Recount confirmed signatures from the signatures themselves and repair the stored "
        "count and the dashboards' figures. Safe to run while people sign."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slugs", nargs="*", help="Petitions to recount (default: all).")

    def handle(self, *args, slugs: list[str], **options) -> None:
        petitions = Petition.objects.all()
        if slugs:
            petitions = petitions.filter(slug__in=slugs)
            missing = set(slugs) - set(petitions.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"No petition with slug: {', '.join(sorted(missing))}")
        for petition in petitions:
            result = recount_signatures(petition)
            verdict = "correct" if result.was_correct else "repaired"
            self.stdout.write(
                f"{petition.slug}: {result.after} confirmed "
                f"(stored count was {result.before}, dashboards' figures "
                f"{'/'.join(str(n) for n in result.rollups_before)}, {verdict})"
            )

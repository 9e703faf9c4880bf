from django.core.management.base import BaseCommand, CommandError

from petitions.models import BreakdownSnapshot, Petition


class Command(BaseCommand):
    help = (
        "Take the public breakdown by country of each published petition whose latest snapshot "
        "is older than BREAKDOWN_SNAPSHOT_SECONDS; the others are left as they are. For "
        "schedulers (run it every few minutes): readers of the petition page take due "
        "snapshots too."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "slugs", nargs="*", help="Petitions to snapshot (default: all published ones)."
        )

    def handle(self, *args, slugs: list[str], **options) -> None:
        petitions = Petition.objects.published()
        if slugs:
            petitions = Petition.objects.filter(slug__in=slugs)
            missing = set(slugs) - set(petitions.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"No petition with slug: {', '.join(sorted(missing))}")
        for petition in petitions.order_by("slug"):
            before = BreakdownSnapshot.objects.latest_for(petition.pk)
            snapshot = BreakdownSnapshot.objects.take(petition_id=petition.pk)
            if before is None or snapshot.pk != before.pk:
                self.stdout.write(
                    f"{petition.slug}: snapshot taken at {snapshot.taken_at.isoformat()}"
                )
            else:
                self.stdout.write(
                    f"{petition.slug}: not due until {snapshot.next_period_start.isoformat()}"
                )

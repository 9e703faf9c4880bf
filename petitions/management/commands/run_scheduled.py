from django.core.management.base import BaseCommand, CommandError

from campaign.lib.scheduled import Outcome, every_text, run_job
from petitions.jobs import JOBS


class Command(BaseCommand):
    help = (
        "Run the scheduled jobs that are due (retention, breakdown snapshots, the nightly "
        "recount), each under its own lock: a job already running elsewhere is skipped. For "
        "platforms with only cron, every few minutes; the systemd timers in deploy/systemd/ "
        "run one job each with --job. Exits 1 if a job failed."
    )

    def add_arguments(self, parser) -> None:
        names = [job.name for job in JOBS]
        which = parser.add_mutually_exclusive_group()
        which.add_argument(
            "--job", action="append", choices=names, metavar="NAME",
            help=f"Run this job now, due or not (may be repeated): {', '.join(names)}.",
        )  # fmt: skip
        which.add_argument("--all", action="store_true", dest="run_all", help="Run every job now.")
        which.add_argument(
            "--list", action="store_true", dest="list_jobs", help="List the jobs and stop."
        )

    def handle(
        self, *args, job: list[str] | None, run_all: bool, list_jobs: bool, **options
    ) -> None:
        if list_jobs:
            for each in JOBS:
                self.stdout.write(
                    f"{each.name}: every {every_text(each.every)}; {each.description}"
                )
            return
        chosen = [each for each in JOBS if not job or each.name in job]
        results = [run_job(each, force=bool(job) or run_all) for each in chosen]
        for result in results:
            counts = ", ".join(f"{name} {value}" for name, value in result.counts.items())
            line = f"{result.job.name}: {result.outcome.value}"
            self.stdout.write(f"{line} ({counts})" if counts else line)
        failed = [result.job.name for result in results if result.outcome is Outcome.FAILED]
        if failed:
            raise CommandError(f"Failed: {', '.join(failed)} (see the log).")

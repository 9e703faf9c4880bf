import signal

from django.core.management.base import BaseCommand

from petitions.emails import run_worker


class Command(BaseCommand):
    help = (
        "Send the signers' confirmation emails waiting in the outbox, retrying failures. Run "
        "as its own process next to the web workers (several may run at once)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="Stop when nothing is due.")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds to wait when idle."
        )

    def handle(self, *args, once: bool, interval: float, **options) -> None:
        stopping = []
        # On SIGTERM, finish the email in hand (its transaction) and stop.
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))

        sent = run_worker(interval=interval, once=once, stop=lambda: bool(stopping))
        self.stdout.write(f"{sent} emails sent.")

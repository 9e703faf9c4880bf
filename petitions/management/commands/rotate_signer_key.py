from django.core.management.base import BaseCommand, CommandError

from campaign.lib.sealed import UnsealError, check_rows, reseal_rows
from petitions.models import Signature


class Command(BaseCommand):
    help = (
        "Re-encrypt signers' names and addresses with the first key in SIGNER_DATA_KEY, in the "
        "current format (AES-GCM; values from before are Fernet tokens), in batches (each its "
        "own short transaction; safe while people sign). Resumable: run it again after an "
        "interruption. --check only counts the rows still under older keys or the old format."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Rows per transaction (default 1000)."
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing; report how many rows are still under older keys or the old "
            "format (exit status 1 if any).",
        )

    def handle(self, *args, batch_size: int, check: bool, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        signatures = Signature.objects.all()
        if check:
            self._check(signatures)
            return
        total = signatures.count()
        progress = None
        try:
            for progress in reseal_rows(signatures, batch_size=batch_size):
                self.stdout.write(
                    f"{progress.rows:,} of {total:,} rows done, {progress.resealed:,} re-encrypted"
                )
        except UnsealError as error:
            # The batch in hand was rolled back; those before it stay done.
            raise CommandError(f"{error} Nothing more was changed.") from None
        if progress is None:
            self.stdout.write("No signatures to re-encrypt.")
            return
        if progress.busy:
            self.stdout.write(
                f"{progress.busy:,} rows were being changed by someone else and were left "
                "as they were: run the command again."
            )
        else:
            self.stdout.write("Every signature is sealed with the first key.")

    def _check(self, signatures) -> None:
        result = check_rows(signatures)
        self.stdout.write(
            f"{result.stale:,} of {result.rows:,} rows are still under an older key or format."
        )
        if result.unopenable:
            self.stdout.write(
                f"{result.unopenable:,} of them are under a key that is no longer in "
                "SIGNER_DATA_KEY: put it back in the list and run the command."
            )
        if result.stale:
            raise SystemExit(1)

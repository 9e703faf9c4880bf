"""Give a staff account its second factor: an authenticator app and ten recovery codes.

Staff sign in to the admin with their password and a code from the app (or one recovery code,
each usable once). Accounts are created on the command line (createsuperuser, or by a
superuser in the admin); an operator then runs this command with the person present:

    python manage.py second_factor USERNAME

It prints a QR code to scan (and the same as a link), asks for the code the app then shows to
be sure the app works, and prints the recovery codes once. --reset replaces a lost phone's
device and the recovery codes.
"""

import segno
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODES = 10


class Command(BaseCommand):
    help = "Set up a staff account's authenticator app and recovery codes."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--reset", action="store_true", help="Replace the account's existing second factor."
        )
        parser.add_argument(
            "--code", help="The code the app shows, instead of asking for it (scripts, tests)."
        )

    def handle(self, *args, username: str, reset: bool, code: str | None, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no account named {username!r}.")
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists() and not reset:
            raise CommandError(
                f"{username} has a second factor already; use --reset to replace a lost one."
            )
        with transaction.atomic():
            TOTPDevice.objects.filter(user=user).delete()
            StaticDevice.objects.filter(user=user).delete()
            device = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=False)
        self.stdout.write("Scan this with the authenticator app (or open the link on the phone):")
        qr = segno.make(device.config_url, error="m")
        qr.terminal(out=self.stdout, compact=True)
        self.stdout.write(device.config_url)
        code = code or input("Code the app shows now: ")
        if not device.verify_token(code.strip().replace(" ", "")):
            device.delete()
            raise CommandError("That code does not match: nothing was set up. Run it again.")
        with transaction.atomic():
            TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
            recovery = StaticDevice.objects.create(user=user, name="recovery codes")
            codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
            StaticToken.objects.bulk_create(StaticToken(device=recovery, token=c) for c in codes)
        self.stdout.write(
            "Recovery codes: keep them somewhere safe, away from the phone; each works once:"
        )
        for recovery_code in codes:
            self.stdout.write(f"  {recovery_code}")
        self.stdout.write(self.style.SUCCESS(f"{username} now signs in with the app."))

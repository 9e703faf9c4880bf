#!/usr/bin/env python
import os
import sys

# Commands that only read the code and write files beside it (migrations, translation
# catalogues): they serve no one and open no signer's data, so on a checkout without
# configuration they run with the development defaults (DEBUG on, unless DEBUG is set) instead
# of stopping for the production secrets, as every other command does.
CODE_ONLY = frozenset({"makemigrations", "makemessages", "compilemessages"})


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings")
    if len(sys.argv) > 1 and sys.argv[1] in CODE_ONLY:
        os.environ.setdefault("DEBUG", "True")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - read the settings now, to report them plainly
    except ImproperlyConfigured as error:
        sys.exit(f"Configuration error: {error}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

import os
import sys
from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured


def application_or_exit(get_application: Callable):
    """The WSGI or ASGI application, or a one-sentence exit when a setting is missing: the
    operator has a setting to fix, not a traceback to read."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings")
    try:
        return get_application()
    except ImproperlyConfigured as error:
        sys.exit(f"Configuration error: {error}")

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_it_has_a_migration_for_every_model_change():
    output = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=output, stderr=output)
    except SystemExit as exit:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(f"Missing migrations (exit {exit.code}):\n{output.getvalue()}")

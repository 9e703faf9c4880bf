import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from petitions.models import Signature

pytestmark = pytest.mark.django_db


def days_ago(n: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=n)


def real_count(petition) -> int:
    return Signature.objects.confirmed().filter(petition=petition).count()


def test_it_purges_unconfirmed_signatures_past_the_age(petition, make_signature):
    old = make_signature(petition, created_at=days_ago(8))
    recent = make_signature(petition, created_at=days_ago(2))
    counted = make_signature(petition, confirmed=True, created_at=days_ago(30))
    output = StringIO()
    call_command("purge_unconfirmed", "--older-than", "7", stdout=output)
    assert "1 unconfirmed signatures older than 7 days deleted." in output.getvalue()
    assert not Signature.objects.filter(pk=old.pk).exists()
    assert Signature.objects.filter(pk__in=[recent.pk, counted.pk]).count() == 2
    assert petition.confirmed_count == real_count(petition) == 1


def test_it_anonymises_petitions_closed_long_enough_keeping_counts(make_petition, make_signature):
    long_closed = make_petition(opens_at=days_ago(100))
    just_closed = make_petition(opens_at=days_ago(100))
    make_signature(long_closed, confirmed=True, country="NL")
    make_signature(long_closed, confirmed=True, country="BE")
    pending = make_signature(long_closed)
    kept = make_signature(just_closed, confirmed=True, wants_updates=True)  # address kept
    # Signed while open; closed since.
    long_closed.closes_at, just_closed.closes_at = days_ago(40), days_ago(5)
    long_closed.save()
    just_closed.save()
    output = StringIO()
    call_command("anonymise_closed", "--after", "30", stdout=output)
    assert f"{long_closed.slug}: 3 signatures anonymised." in output.getvalue()
    remaining = Signature.objects.filter(petition=long_closed)
    assert remaining.count() == 2
    assert not remaining.filter(email__isnull=False).exists()
    assert set(remaining.values_list("first_name", "last_name")) == {("", "")}
    assert set(remaining.values_list("country", flat=True)) == {"NL", "BE"}
    assert not Signature.objects.filter(pk=pending.pk).exists()
    assert long_closed.confirmed_count == real_count(long_closed) == 2
    assert Signature.objects.get(pk=kept.pk).email  # closed only 5 days ago: untouched


def test_it_erases_one_signer_across_all_petitions(petition, make_petition, make_signature):
    other = make_petition()
    make_signature(petition, confirmed=True, email="gone@example.org")
    make_signature(other, email="gone@example.org")
    stay = make_signature(petition, confirmed=True, email="stay@example.org", wants_updates=True)
    output = StringIO()
    call_command("erase_signer", "Gone@Example.org", stdout=output)
    assert "2 signatures erased." in output.getvalue()
    assert not Signature.objects.with_email("gone@example.org").exists()
    assert Signature.objects.filter(petition=other).count() == 0
    assert Signature.objects.get(pk=stay.pk).email == "stay@example.org"
    assert petition.confirmed_count == real_count(petition) == 2


def test_it_refuses_to_erase_something_that_is_not_an_email(db):
    with pytest.raises(CommandError, match="not an email address the petition form accepts"):
        call_command("erase_signer", "nobody")

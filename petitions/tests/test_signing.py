import datetime as dt
import re
import time
from types import SimpleNamespace

import pytest
from django.core import mail, signing
from django.urls import reverse
from django.utils import timezone

from petitions import forms
from petitions.models import Signature
from petitions.tests.helpers import failing_statements, links_in

SEND_AGAIN = "Please check your details and send the form once more."

pytestmark = pytest.mark.django_db


def sign_url(petition) -> str:
    return reverse("petitions:sign", kwargs={"slug": petition.slug})


def inbox_url(petition) -> str:
    return reverse("petitions:check_inbox", kwargs={"slug": petition.slug})


def test_it_saves_a_pending_signature_and_sends_a_confirmation_link(client, petition, sign_data):
    response = client.post(sign_url(petition), sign_data())
    assert response.status_code == 302
    assert response["Location"] == inbox_url(petition)
    signature = Signature.objects.get()
    assert signature.status == Signature.Status.PENDING
    assert (signature.first_name, signature.last_name) == ("Ada", "Lovelace")
    assert signature.email == "ada@example.org"
    assert signature.country == "NL"
    assert signature.wants_updates is False
    assert signature.hide_name is False
    assert petition.confirmed_count == 0
    [message] = mail.outbox
    assert message.to == ["ada@example.org"]
    assert "Please confirm your signature" in message.subject
    links = links_in(message.body)
    assert links["confirm"].startswith(
        "https://campaign.example/petitions/protect-defenders/confirm/?t="
    )
    assert "/withdraw/?t=" in links["withdraw"]


def test_it_shows_check_your_inbox_after_signing(client, petition, sign_data):
    response = client.post(sign_url(petition), sign_data(), follow=True)
    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()


def test_it_trims_and_normalises_names_and_email(client, petition, sign_data):
    client.post(
        sign_url(petition),
        sign_data(
            first_name="  Ada\u200b  ", last_name=" King   Lovelace ", email="  Ada@Example.ORG "
        ),
    )
    signature = Signature.objects.get()
    assert signature.first_name == "Ada"
    assert signature.last_name == "King Lovelace"
    assert signature.email == "ada@example.org"


def test_it_keeps_the_choices_for_updates_and_hiding_the_name(client, petition, sign_data):
    client.post(sign_url(petition), sign_data(wants_updates="on", hide_name="on"))
    signature = Signature.objects.get()
    assert signature.wants_updates is True
    assert signature.hide_name is True


def test_it_shows_errors_next_to_fields_and_in_a_summary_keeping_what_was_typed(
    client, petition, sign_data
):
    response = client.post(
        sign_url(petition), sign_data(email="not-an-email", last_name="", country="")
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="error-summary" role="alert"' in html
    assert '<a href="#id_email">Email address: Enter an email address like' in html
    assert '<a href="#id_last_name">Last name: Enter your last name.</a>' in html
    assert '<a href="#id_country">Country: Choose your country.</a>' in html
    assert 'id="id_email_error"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="not-an-email"' in html
    assert 'value="Ada"' in html
    assert Signature.objects.count() == 0
    assert mail.outbox == []


@pytest.mark.parametrize(
    "field,value",
    [
        ("first_name", "x" * 101),
        ("last_name", "x" * 101),
        ("email", "a" * 250 + "@example.org"),
        ("country", "ZZ"),
        ("first_name", "   "),
    ],
)
def test_it_refuses_fields_that_are_too_long_or_invalid(client, petition, sign_data, field, value):
    response = client.post(sign_url(petition), sign_data(**{field: value}))
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert Signature.objects.count() == 0


def test_it_never_creates_a_second_signature_for_the_same_email(client, petition, sign_data):
    first = client.post(sign_url(petition), sign_data(email="ada@example.org"))
    second = client.post(
        sign_url(petition), sign_data(email="ADA@example.org", first_name="Mallory")
    )
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    signature = Signature.objects.get()
    assert signature.first_name == "Ada"  # a second signing changes nothing


def test_it_signs_again_without_a_failing_statement(client, petition, sign_data):
    """A statement the database refuses is written to its server log with the row's values:
    a repeated signing must not leave the signer's address and name there."""
    client.post(sign_url(petition), sign_data(email="ada@example.org"))
    with failing_statements() as failed:
        response = client.post(sign_url(petition), sign_data(email="Ada@Example.org"))
    assert response.status_code == 302
    assert failed == []
    assert Signature.objects.count() == 1


def test_it_sends_a_new_confirmation_when_a_pending_signer_signs_again(
    client, petition, sign_data, settings
):
    settings.SIGNATURE_EMAIL_INTERVAL = 0
    client.post(sign_url(petition), sign_data())
    client.post(sign_url(petition), sign_data())
    assert len(mail.outbox) == 2
    assert all("Please confirm your signature" in m.subject for m in mail.outbox)


def test_it_tells_a_confirmed_signer_who_signs_again_that_they_are_counted(
    client, petition, sign_data, make_signature, settings
):
    settings.SIGNATURE_EMAIL_INTERVAL = 0
    make_signature(petition, email="ada@example.org", confirmed=True)
    response = client.post(sign_url(petition), sign_data(email="Ada@Example.org"))
    assert response["Location"] == inbox_url(petition)
    [message] = mail.outbox
    assert "already counted" in message.subject
    assert "/confirm/" not in message.body
    assert "/withdraw/?t=" in message.body
    assert petition.confirmed_count == 1
    assert Signature.objects.count() == 1


def test_it_sends_at_most_one_email_a_minute_to_the_same_signer(client, petition, sign_data):
    for _ in range(3):
        client.post(sign_url(petition), sign_data())
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("fast", [False, True], ids=["in-time", "too-fast"])
def test_it_drops_a_filled_honeypot_silently(client, petition, sign_data, fast):
    data = sign_data(website="http://spam.example")
    if fast:
        data["rendered_at"] = forms.form_timestamp()
    response = client.post(sign_url(petition), data)
    assert response.status_code == 302
    assert response["Location"] == inbox_url(petition)
    assert Signature.objects.count() == 0
    assert mail.outbox == []


def shown_timestamp(response) -> str:
    return re.search(r'name="rendered_at" value="([^"]+)"', response.content.decode())[1]


def timestamp(seconds_ago: float) -> str:
    return signing.dumps(time.time() - seconds_ago, salt=forms._TIMESTAMP_SALT)


@pytest.mark.parametrize(
    "rendered_at",
    [
        pytest.param(forms.form_timestamp, id="too-fast"),
        pytest.param(lambda: timestamp(-60), id="from-the-future"),
        pytest.param(lambda: "", id="missing"),
        pytest.param(lambda: "forged:value", id="forged"),
        pytest.param(lambda: forms.form_timestamp()[:-1] + "x", id="tampered"),
        pytest.param(lambda: signing.dumps("soon", salt=forms._TIMESTAMP_SALT), id="not-a-time"),
        pytest.param(lambda: timestamp(24 * 3600 + 1), id="a-day-old"),
    ],
)
def test_it_shows_the_form_again_when_sent_too_fast_or_with_no_good_timestamp(
    client, petition, sign_data, rendered_at
):
    sent = rendered_at()
    response = client.post(
        sign_url(petition),
        sign_data(last_name="King Lovelace", wants_updates="on", source="home", rendered_at=sent),
    )
    assert response.status_code == 400
    html = response.content.decode()
    summary = re.search(r'<div class="error-summary" role="alert".*?</div>', html, re.S)[0]
    assert f"<li>{SEND_AGAIN}</li>" in summary
    assert 'value="Ada"' in html
    assert 'value="King Lovelace"' in html
    assert 'value="ada@example.org"' in html
    assert '<option value="NL" selected>' in html
    assert 'name="wants_updates" id="id_wants_updates" checked' in html
    assert 'name="source" value="home"' in html
    fresh = shown_timestamp(response)
    assert fresh != sent
    assert abs(signing.loads(fresh, salt=forms._TIMESTAMP_SALT) - time.time()) < 5
    assert Signature.objects.count() == 0
    assert mail.outbox == []


def test_it_shows_the_form_again_once_older_than_the_maximum_age(
    client, petition, sign_data, settings
):
    settings.SIGNATURE_FORM_MAX_AGE = 3600
    too_old = client.post(sign_url(petition), sign_data(rendered_at=timestamp(3601)))
    assert too_old.status_code == 400
    assert SEND_AGAIN in too_old.content.decode()
    response = client.post(sign_url(petition), sign_data(rendered_at=timestamp(3590)))
    assert response.status_code == 302
    assert Signature.objects.count() == 1


def test_it_signs_when_the_form_shown_again_is_sent_after_the_minimum_time(
    client, petition, sign_data, monkeypatch
):
    clock = [time.time()]
    monkeypatch.setattr(forms, "time", SimpleNamespace(time=lambda: clock[0]))
    data = sign_data(rendered_at=forms.form_timestamp())
    clock[0] += 1  # autofill: one second after the page was shown
    again = client.post(sign_url(petition), data)
    assert again.status_code == 400
    clock[0] += 1  # the form shown again is sent one second later (the minimum is 2 s)
    too_fast = client.post(sign_url(petition), {**data, "rendered_at": shown_timestamp(again)})
    assert too_fast.status_code == 400
    assert SEND_AGAIN in too_fast.content.decode()
    clock[0] += 2
    response = client.post(sign_url(petition), {**data, "rendered_at": shown_timestamp(too_fast)})
    assert response.status_code == 302
    assert response["Location"] == inbox_url(petition)
    signature = Signature.objects.get()
    assert (signature.first_name, signature.email) == ("Ada", "ada@example.org")
    [message] = mail.outbox
    assert message.to == ["ada@example.org"]


@pytest.mark.parametrize(
    "source,kind,story",
    [
        ("home", "home", ""),
        ("petition", "petition", ""),
        ("stories", "stories", ""),
        ("story:azerbaijan", "story", "azerbaijan"),
        ("story:<script>", "other", ""),
        ("https://tracker.example/", "other", ""),
        ("story:" + "a" * 81, "other", ""),
        ("x" * 10_000, "other", ""),
    ],
)
def test_it_records_which_page_the_signer_came_from(
    client, petition, sign_data, source, kind, story
):
    client.post(sign_url(petition), sign_data(source=source))
    signature = Signature.objects.get()
    assert (signature.source, signature.source_story) == (kind, story)


def test_it_stores_nothing_about_the_browser_or_address(client, petition, sign_data):
    client.post(
        sign_url(petition),
        sign_data(),
        REMOTE_ADDR="203.0.113.77",
        HTTP_USER_AGENT="Secret Browser 1.0",
    )
    values = " ".join(str(v) for v in Signature.objects.values().get().values())
    assert "203.0.113.77" not in values
    assert "Secret Browser" not in values


def test_it_refuses_to_sign_a_closed_petition_with_a_clear_message(
    client, make_petition, sign_data
):
    closed = make_petition(closes_at=timezone.now() - dt.timedelta(minutes=1))
    response = client.post(sign_url(closed), sign_data())
    assert response.status_code == 403
    assert "This petition is closed" in response.content.decode()
    assert Signature.objects.count() == 0
    assert mail.outbox == []


def test_it_refuses_to_sign_a_petition_that_has_not_opened(client, make_petition, sign_data):
    future = make_petition(opens_at=timezone.now() + dt.timedelta(days=1))
    response = client.post(sign_url(future), sign_data())
    assert response.status_code == 403
    assert "This petition is not open yet" in response.content.decode()
    assert Signature.objects.count() == 0


def test_it_answers_404_to_signing_an_unpublished_petition(client, make_petition, sign_data):
    hidden = make_petition(is_published=False)
    assert client.post(sign_url(hidden), sign_data()).status_code == 404
    assert Signature.objects.count() == 0


def test_it_refuses_get_on_the_sign_url(client, petition):
    assert client.get(sign_url(petition)).status_code == 405


def test_it_requires_the_csrf_token(petition, sign_data):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(sign_url(petition), sign_data())
    assert response.status_code == 403
    assert Signature.objects.count() == 0


def test_it_keeps_the_signature_when_the_mail_server_is_down(client, petition, sign_data, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1
    response = client.post(sign_url(petition), sign_data())
    assert response.status_code == 302
    signature = Signature.objects.get()
    assert signature.email_sent_at is None


def test_it_writes_to_dutch_signers_in_dutch(client, petition, sign_data):
    response = client.post("/nl/petitions/protect-defenders/sign/", sign_data())
    assert response["Location"] == "/nl/petitions/protect-defenders/check-your-inbox/"
    assert Signature.objects.get().language == "nl"
    [message] = mail.outbox
    assert message.subject.startswith("Bevestig uw handtekening")
    assert "Ada" not in message.body  # nothing the signer typed goes into the email
    assert "https://campaign.example/nl/petitions/protect-defenders/confirm/?t=" in message.body


@pytest.mark.parametrize("interval", [0, 60, 86400])
def test_the_email_rule_compiled_once_says_what_the_rule_says(settings, interval):
    """Signing uses the email rule compiled once per database, with this moment's cutoff put
    in; it must be the very SQL and parameters that compiling the rule now would give."""
    from django.db import connection
    from django.db.models.sql import Query

    from petitions.services import _email_cutoff, _may_email_again, _may_email_again_now

    settings.SIGNATURE_EMAIL_INTERVAL = interval
    now = timezone.now()
    query = Query(Signature)
    where = query.build_where(_may_email_again(cutoff=_email_cutoff(now)))
    sql, params = where.as_sql(query.get_compiler(connection=connection), connection)
    assert _may_email_again_now(now) == (sql, list(params))

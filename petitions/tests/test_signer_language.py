"""A signer's language is kept with the signature: their emails, and the pages those emails lead
to, are in it whichever browser opens the link."""

import pytest
from django.core import mail
from django.utils import translation

from petitions.models import Signature
from petitions.tests.helpers import links_in, path_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("code", ["ru", "tr", "kk", "uk"])
def test_a_signer_is_written_to_and_answered_in_their_language(client, petition, sign_data, code):
    petition.title_en = "Protect defenders"
    setattr(petition, f"title_{code}", f"Title in {code}")
    for field in ("intro", "demands", "addressees"):
        setattr(petition, f"{field}_{code}", f"{field} in {code}")
    petition.save()
    response = client.post(f"/{code}/petitions/{petition.slug}/sign/", sign_data())
    assert response["Location"] == f"/{code}/petitions/{petition.slug}/check-your-inbox/"
    assert Signature.objects.get().language == code
    [message] = mail.outbox
    with translation.override(code):
        subject = translation.gettext("Please confirm your signature: %(title)s")
    assert "confirm" not in subject
    assert message.subject == subject % {"title": f"Title in {code}"}
    links = links_in(message.body)
    confirm = path_of(links["confirm"])
    assert confirm.startswith(f"/{code}/petitions/{petition.slug}/confirm/?t=")

    # Opened in a browser set to English, on another device: still the signer's language.
    other = client_class_like(client)
    page = other.get(confirm, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert f'<html lang="{code}" dir="ltr">' in page.content.decode()
    token = confirm.split("?t=")[1]
    done = other.post(confirm.split("?")[0], {"t": token}, HTTP_ACCEPT_LANGUAGE="en")
    assert done["Location"].startswith(f"/{code}/petitions/{petition.slug}/thank-you/?t=")
    thanks = other.get(done["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'<html lang="{code}" dir="ltr">' in thanks


def client_class_like(client):
    return type(client)()

"""Addresses email cannot reach are refused at the form; each mailbox is stored one way."""

import string

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.message import sanitize_address
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from petitions.addresses import MESSAGES, normalise_address
from petitions.models import Signature


def refusal(value: str) -> str:
    with pytest.raises(ValidationError) as refused:
        normalise_address(value)
    return refused.value.code


def assert_deliverable(value: str) -> None:
    """Refused, or an address our mail path sends to as it is, written one way only."""
    try:
        address = normalise_address(value)
    except ValidationError:
        return
    assert address.isascii()
    assert len(address) <= 254
    assert address == address.lower()
    assert normalise_address(address) == address
    assert sanitize_address(address, "utf-8") == address


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_it_refuses_or_returns_a_deliverable_address_for_any_text(value):
    assert_deliverable(value)


# Text shaped like an address, so that many examples get through: mostly RFC 5321's characters,
# sometimes the ones around them (spaces, quotes, more @s, non-ASCII letters), domains mostly of
# host-name letters, sometimes of any characters or A-labels written out.
_LOCAL = st.text(
    st.sampled_from(string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-." + ' "@ü'),
    min_size=1,
    max_size=20,
)
_HOST_LABEL = st.text(st.sampled_from(string.ascii_letters + string.digits + "-üЖ例"), min_size=1)
_LABEL = st.one_of(
    _HOST_LABEL,
    _HOST_LABEL,
    _HOST_LABEL,
    _HOST_LABEL.map("xn--{}".format),
    st.text(st.characters(), min_size=1, max_size=5),
)
_DOMAIN = st.lists(_LABEL, min_size=1, max_size=5).map(".".join)


@settings(max_examples=200, deadline=None)
@given(_LOCAL, _DOMAIN, st.sampled_from(["", ".", " ", "\n"]))
def test_it_refuses_or_returns_a_deliverable_address_for_any_address_like_text(local, domain, end):
    assert_deliverable(f"{local}@{domain}{end}")


@pytest.mark.parametrize(
    "value,address",
    [
        ("ada@bücher.example", "ada@xn--bcher-kva.example"),
        ("Ada@BÜCHER.Example", "ada@xn--bcher-kva.example"),
        ("ada@bu\u0308cher.example", "ada@xn--bcher-kva.example"),  # ü in two code points
        ("ada@xn--bcher-kva.example", "ada@xn--bcher-kva.example"),
        ("ivan@пример.рф", "ivan@xn--e1afmkfd.xn--p1ai"),
        ("IVAN@ПРИМЕР.РФ", "ivan@xn--e1afmkfd.xn--p1ai"),
        ("ADA.LOVELACE@EXAMPLE.ORG", "ada.lovelace@example.org"),
        ("ada@example.org.", "ada@example.org"),  # the root, written out
        ("  ada@example.org \n", "ada@example.org"),
        ("ada+petition@mail.example.org", "ada+petition@mail.example.org"),
        ("o'neil_{x}~@example.org", "o'neil_{x}~@example.org"),
    ],
)
def test_it_writes_each_mailbox_one_way(value, address):
    assert normalise_address(value) == address


@pytest.mark.parametrize(
    "value,code",
    [
        ("ada.example.org", "invalid"),
        ("@example.org", "invalid"),
        ("ada@home@example.org", "local_characters"),  # two @s
        ("ada lovelace@example.org", "local_characters"),
        ("zoë@example.org", "local_characters"),  # no SMTPUTF8: it cannot be delivered
        ('"ada"@example.org', "local_characters"),
        ("=?utf-8?q?bob?=@example.org", "local_characters"),  # the mail library reads bob
        ("ada..lovelace@example.org", "local_dots"),
        (".ada@example.org", "local_dots"),
        ("ada.@example.org", "local_dots"),
        ("a" * 65 + "@example.org", "local_length"),
        ("ada@", "domain"),
        ("ada@exa mple.org", "domain"),
        ("ada@localhost", "domain"),
        ("ada@example..org", "domain"),
        ("ada@example.org..", "domain"),
        ("ada@-example.org", "domain"),
        ("ada@exa_mple.org", "domain"),
        ("ada@[192.0.2.1]", "domain"),
        ("ada@192.0.2.1", "domain"),
        ("ada@" + "a" * 64 + ".org", "domain"),
        ("ada@" + ".".join(["ü" * 20] * 10) + ".example", "domain"),  # over 253 in ASCII
        ("ada@" + ".".join(["bücher" * 7] * 5) + ".org", "length"),  # 222 typed, 257 sent
        ("a" * 2000 + "@example.org", "length"),  # refused before any work
    ],
)
def test_it_refuses_what_email_cannot_reach(value, code):
    assert refusal(value) == code


def sign(client, petition, sign_data, email):
    return client.post(
        reverse("petitions:sign", kwargs={"slug": petition.slug}), sign_data(email=email)
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "email,code",
    [
        ("zoë@example.org", "local_characters"),
        ("ada..lovelace@example.org", "local_dots"),
        ("ada@example", "domain"),
        ("ada", "invalid"),
    ],
)
def test_the_signing_form_says_what_to_change_next_to_the_field(
    client, petition, sign_data, email, code
):
    response = sign(client, petition, sign_data, email)
    assert response.status_code == 400
    assert response.context["form"].errors["email"] == [MESSAGES[code]]
    html = response.content.decode()
    error = html[html.index('id="id_email_error"') :]
    assert str(MESSAGES[code]) in error[: error.index("</")]
    assert Signature.objects.count() == 0
    assert mail.outbox == []


@pytest.mark.django_db
def test_one_mailbox_written_two_ways_is_one_signer(client, petition, sign_data, settings):
    settings.SIGNATURE_EMAIL_INTERVAL = 0
    for email in ("Ada@Bücher.example", "ada@xn--bcher-kva.example."):
        assert sign(client, petition, sign_data, email).status_code == 302
    assert list(Signature.objects.values_list("email", flat=True)) == ["ada@xn--bcher-kva.example"]
    assert [m.to for m in mail.outbox] == [["ada@xn--bcher-kva.example"]] * 2


@pytest.mark.django_db
def test_the_new_link_form_refuses_what_email_cannot_reach(client, petition):
    url = reverse("petitions:new_link", kwargs={"slug": petition.slug})
    response = client.post(url, {"email": "zoë@example.org"})
    assert response.status_code == 400
    assert response.context["form"].errors["email"] == [MESSAGES["local_characters"]]
    assert mail.outbox == []


@pytest.mark.django_db
def test_the_new_link_form_finds_the_signer_however_the_address_is_written(
    client, petition, make_signature, settings
):
    settings.SIGNATURE_EMAIL_INTERVAL = 0
    make_signature(petition, email="ada@xn--bcher-kva.example")
    url = reverse("petitions:new_link", kwargs={"slug": petition.slug})
    response = client.post(url, {"email": "ADA@bücher.example"})
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["ada@xn--bcher-kva.example"]]


def _through_idna(domain: str) -> str | None:
    import idna

    try:
        return idna.encode(domain.removesuffix("."), uts46=True).decode("ascii").lower()
    except UnicodeError:
        return None


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=string.ascii_letters + string.digits + "-.", min_size=1, max_size=80),
        # Labels of a few characters where hyphens and dots fall everywhere they can.
        st.lists(st.text(alphabet="aZ1-", max_size=6), min_size=1, max_size=4).map(".".join),
    )
)
def test_the_fast_path_for_plain_host_names_agrees_with_idna(domain):
    """Plain ASCII host names skip the idna package; they must come out as IDNA would have
    it, and be refused where IDNA refuses them."""
    from petitions.addresses import _ascii_domain

    try:
        fast = _ascii_domain(domain)
    except ValidationError:
        fast = None
    expected = _through_idna(domain)
    if fast is not None:
        assert fast == expected
    elif expected is not None:  # refused by our own rules: at least two labels, no digit TLD
        labels = expected.split(".")
        assert len(labels) < 2 or labels[-1].isdigit() or "" in labels

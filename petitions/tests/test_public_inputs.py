"""No input to a public form or link makes the site fail.

Whatever a visitor, a scraper or a bot sends to the public pages (any text, control characters,
NUL, lone combining marks, right-to-left marks, mixed scripts, 100,000 characters), the answer
is a page (2xx, 3xx or 4xx), never a server error, and the database refuses no statement:
PostgreSQL writes a refused statement, with the signer's data in it, into its server log. Run
this file on PostgreSQL too (DATABASE_URL), where column lengths and NUL are enforced.
"""

import contextlib
import itertools
import logging
import string
import unicodedata
from urllib.parse import quote, urlencode

import hypothesis
import pytest
from django.conf import settings
from django.core import signing
from django.db import DatabaseError, connection
from django.urls import reverse
from django.utils import translation
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from petitions.forms import _TIMESTAMP_SALT, clean_name, form_timestamp
from petitions.models import Signature
from petitions.tests.helpers import old_enough_timestamp
from petitions.tokens import CONFIRM_SALT, WITHDRAW_SALT

pytestmark = pytest.mark.django_db

SITE = "http://testserver"

# Function-scoped fixtures (the client, the petition) are shared by a test's examples, which is
# what is wanted here: every example meets the rows the earlier ones left.


def fuzz(examples: int):
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# Characters that trip up text handling: controls and NUL, invisible and bidirectional
# marks, lone combining marks, characters that NFC or lower() lengthen (U+0958, U+0344, İ),
# compatibility spaces, letters that match [a-z] case-insensitively (K, ſ), RTL and CJK letters.
NASTY = (
    "\x00\t\n\r\x0b\x1b\x7f\x85\xa0\xad\u0301\u0308\u0344\u0958\u2000\u200b\u200c\u200d"
    "\u200e\u200f\u2028\u202a\u202e\u2066\u2069\u3164\ufeff\ufffd\U0001f600\U000e0041"
    "İıKſẞßǅΣς"
    "ابةתשЖжéē漢字𠀋"
)
nasty_char = st.sampled_from(NASTY)
short_text = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), nasty_char), max_size=120)
mixed_scripts = st.text(
    alphabet=st.sampled_from(NASTY + string.ascii_letters + " -'."), min_size=1, max_size=120
)


@st.composite
def long_text(draw) -> str:
    """Up to 100,000 characters: a short unit repeated around (or after) a short core."""
    unit = draw(
        st.text(
            alphabet=st.one_of(nasty_char, st.characters(codec="utf-8")), min_size=1, max_size=3
        )
    )
    length = draw(st.integers(min_value=1, max_value=100_000))
    padding = (unit * (length // len(unit) + 1))[:length]
    core = draw(st.one_of(st.just("Ada"), short_text))
    return draw(
        st.sampled_from([padding, padding + core, core + padding, padding + core + padding])
    )


any_text = st.one_of(short_text, mixed_scripts, long_text())


def a_value(valid=None):
    """A form value: sometimes a valid one (so that the database is reached), sometimes several
    values under one name, mostly anything at all."""
    options = [any_text, st.lists(short_text, min_size=2, max_size=3)]
    if valid is not None:
        options.insert(0, valid)
    return st.one_of(*options)


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    short_text,
    st.lists(st.integers(), max_size=3),
)


def signed(salt: str):
    """Genuinely signed values of any kind: what the site itself would accept as authentic."""
    return json_values.map(lambda value: signing.dumps(value, salt=salt))


emails = st.one_of(
    st.emails(),
    st.builds(lambda local, domain: f"{local}@{domain}", short_text, short_text),
    st.builds(lambda n: "İ" * n + "@example.org", st.integers(1, 250)),
    st.builds(lambda n: "a" * n + "@example.org", st.integers(230, 250)),
)

# A form a person could send (any name at all, a real-looking address), so that most examples
# reach the database; then a few of its fields replaced by anything, or left out.
plausible_names = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=100),
    mixed_scripts,
    short_text,
    long_text(),
)
PLAUSIBLE_SIGN_FORM = {
    "first_name": plausible_names,
    "last_name": plausible_names,
    "email": st.one_of(st.emails(), st.emails(), emails),
    "country": st.sampled_from(["NL", "UA", "AZ", "KZ"]),
    "wants_updates": st.sampled_from(["on", ""]),
    "hide_name": st.sampled_from(["on", ""]),
    "source": st.sampled_from(["home", "petition", "stories", "story:hungary"]),
    "rendered_at": st.builds(old_enough_timestamp),
    "website": st.just(""),
}
SIGN_FORM_FIELDS = list(PLAUSIBLE_SIGN_FORM)
anything_for_a_field = {
    **{name: a_value() for name in SIGN_FORM_FIELDS},
    "rendered_at": a_value(st.one_of(st.builds(form_timestamp), signed(_TIMESTAMP_SALT))),
}


@st.composite
def sign_forms(draw) -> dict:
    data = draw(st.fixed_dictionaries(PLAUSIBLE_SIGN_FORM))
    for name in draw(st.sets(st.sampled_from(SIGN_FORM_FIELDS), max_size=2)):
        data[name] = draw(anything_for_a_field[name])
    for name in draw(st.sets(st.sampled_from(SIGN_FORM_FIELDS), max_size=1)):
        del data[name]
    return data


query_params = st.dictionaries(
    st.one_of(st.sampled_from(["from", "t", "p", "next", "page", "q"]), short_text),
    a_value(),
    max_size=4,
)
slugs = st.one_of(
    st.from_regex(r"\A[-a-zA-Z0-9_]{1,100}\Z"),
    st.builds(lambda n: "a" * n, st.integers(80, 20_000)),
    short_text.filter(bool),
)


# Every language's URL prefix: "" for English, "/nl" ... "/uk".
LANGUAGE_PREFIXES = ["" if code == "en" else f"/{code}" for code, _name in settings.LANGUAGES]


def url(name: str, petition, language: str = "") -> str:
    # A request under /nl/ leaves Dutch active in this thread for the next example.
    with translation.override("en"):
        return language + reverse(name, kwargs={"slug": petition.slug})


@contextlib.contextmanager
def nothing_fails(caplog, typed=()):
    """The database refuses no statement meanwhile, and the log holds nothing personal: neither
    what the visitor typed (names, addresses, tokens) nor any signer's details as stored."""
    failed: list[str] = []

    def record(execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except DatabaseError as error:
            failed.append(f"{type(error).__name__}: {sql}")
            raise

    with connection.execute_wrapper(record):
        yield
    assert failed == []
    stored = Signature.objects.values_list("first_name", "last_name", "email")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for value in [*typed, *itertools.chain.from_iterable(stored)]:
        # Long enough not to turn up in any log line by chance.
        if isinstance(value, str) and len(value.strip()) >= 5:
            assert value not in logged


def answers(response) -> int:
    assert 200 <= response.status_code < 500, response.status_code
    return response.status_code


@pytest.fixture
def fuzzing(settings, caplog, make_story):
    make_story(slug="hungary")
    settings.RATE_LIMIT_SIGN = "1000000/m"
    settings.RATE_LIMIT_LINKS = "1000000/m"
    settings.COUNTRY_HEADER = "CF-IPCountry"
    caplog.set_level(logging.INFO)
    return caplog


def is_normalised(name: str) -> bool:
    """As a name is stored: trimmed, composed (NFC), nothing invisible, within the column."""
    return (
        len(name) <= 100
        and name == name.strip()
        and unicodedata.is_normalized("NFC", name)
        and not any(unicodedata.category(c) in ("Cc", "Cf") for c in name)
    )


# Lengths hold after normalisation: what is checked is what is stored.


@pytest.mark.parametrize(
    "typed,stored",
    [
        ("   Ada   " + " " * 200, "Ada"),
        ("\u200b" * 300 + "Ada\u202e\u2066", "Ada"),
        ("Ada\tKing\n\u3000 Lovelace", "Ada King Lovelace"),
        ("e\u0301" * 100, "\u00e9" * 100),  # 200 characters typed, 100 once composed
        (" " + "x" * 100 + "\ufeff ", "x" * 100),
    ],
)
def test_it_checks_the_length_of_a_name_as_it_is_stored(client, petition, sign_data, typed, stored):
    response = client.post(url("petitions:sign", petition), sign_data(first_name=typed))
    assert response.status_code == 302
    assert Signature.objects.get().first_name == stored


@pytest.mark.parametrize(
    "typed",
    [
        "x" * 101,
        "  " + "x" * 50 + " " + "x" * 50 + "\u200b ",  # 101 with the one space kept
        "\u0958" * 51,  # 51 characters typed, 102 once normalised (NFC decomposes them)
    ],
)
def test_it_refuses_a_name_longer_than_the_column_once_normalised(
    client, petition, sign_data, typed
):
    response = client.post(url("petitions:sign", petition), sign_data(last_name=typed))
    assert response.status_code == 400
    [error] = response.context["form"].errors["last_name"]
    length = len(clean_name(typed))
    assert error == f"Use at most 100 characters (this has {length})."
    assert f"Last name: {error}</a>" in response.content.decode()
    assert Signature.objects.count() == 0


@pytest.mark.parametrize("typed", ["", "   ", "\u200b\u200e\u00ad", "\u3164 \u3164", "\x00\t\x1b"])
def test_it_asks_for_a_name_made_only_of_invisible_characters(client, petition, sign_data, typed):
    response = client.post(url("petitions:sign", petition), sign_data(first_name=typed))
    assert response.status_code == 400
    assert response.context["form"].errors["first_name"] == ["Enter your first name."]
    assert Signature.objects.count() == 0


def test_it_shows_back_only_a_known_page_from_the_petition_link(client, petition):
    known = client.get(url("petitions:detail", petition), {"from": "story:hungary"})
    assert 'name="source" value="story:hungary"' in known.content.decode()
    unknown = client.get(url("petitions:detail", petition), {"from": "<b>x</b>" + "y" * 10_000})
    assert unknown.status_code == 200
    assert '<input type="hidden" name="source" id="id_source">' in unknown.content.decode()
    assert "yyyy" not in unknown.content.decode()


@fuzz(300)
@given(value=any_text)
def test_it_normalises_any_name_once_and_for_all(value):
    name = clean_name(value)
    assert is_normalised(name) or len(name) > 100
    assert "  " not in name
    assert not any(c.isspace() and c != " " for c in name)
    assert clean_name(name) == name


@fuzz(150)
@given(
    data=sign_forms(),
    language=st.sampled_from(LANGUAGE_PREFIXES),
    view=st.sampled_from(["petitions:sign", "petitions:widget_sign"]),
)
def test_it_answers_any_sign_form_with_a_page(client, petition, fuzzing, data, language, view):
    typed = [data.get("first_name"), data.get("last_name"), data.get("email")]
    with nothing_fails(fuzzing, typed):
        # The widget's form is posted from the site's own (framed) page.
        response = client.post(url(view, petition, language), data, headers={"Origin": SITE})
    status = answers(response)
    assert status in (302, 400)
    hypothesis.event(f"status {status}, {Signature.objects.count()} signatures")
    if status == 400:
        errors = response.context["form"].errors.as_data().items()
        hypothesis.event(f"refused: {sorted(f'{n}:{e.code}' for n, es in errors for e in es)}")
    for first_name, last_name in Signature.objects.values_list("first_name", "last_name"):
        assert is_normalised(first_name) and first_name
        assert is_normalised(last_name) and last_name


@fuzz(25)
@given(body=st.binary(max_size=2000))
def test_it_answers_any_bytes_posted_to_the_sign_form(client, petition, fuzzing, body):
    sign = url("petitions:sign", petition)
    with nothing_fails(fuzzing):
        answers(client.post(sign, body, content_type="application/x-www-form-urlencoded"))
    raw = urlencode({"first_name": body, "last_name": body, "email": body}).encode()
    with nothing_fails(fuzzing):
        answers(client.post(sign, raw, content_type="application/x-www-form-urlencoded"))


@fuzz(60)
@given(
    email=a_value(emails),
    token=a_value(st.one_of(signed(CONFIRM_SALT), signed(WITHDRAW_SALT))),
    send_token=st.booleans(),
)
def test_it_answers_any_request_for_a_new_link_with_a_page(
    client, petition, fuzzing, email, token, send_token
):
    data = {"email": email, "t": token} if send_token else {"email": email}
    with nothing_fails(fuzzing, [email, token]):
        assert answers(client.post(url("petitions:new_link", petition), data)) in (302, 400)


@fuzz(60)
@given(
    view=st.sampled_from(["petitions:confirm", "petitions:withdraw"]),
    method=st.sampled_from(["get", "post", "head"]),
    token=a_value(st.one_of(signed(CONFIRM_SALT), signed(WITHDRAW_SALT))),
    extra=query_params,
)
def test_it_answers_any_confirm_or_withdraw_link_with_a_page(
    client, petition, make_signature, fuzzing, view, method, token, extra
):
    make_signature(petition)
    with nothing_fails(fuzzing, [token]):
        answers(getattr(client, method)(url(view, petition), {**extra, "t": token}))


@fuzz(60)
@given(
    params=query_params,
    source=a_value(),
    country=short_text,
    accept_language=short_text,
    language=st.sampled_from(LANGUAGE_PREFIXES),
    view=st.sampled_from(["petitions:detail", "petitions:widget"]),
    via=a_value(),
    lang=a_value(),
)
def test_it_answers_the_petition_page_whatever_the_query(
    client, petition, fuzzing, params, source, country, accept_language, language, view, via, lang
):
    with nothing_fails(fuzzing):
        response = client.get(
            url(view, petition, language),
            {**params, "from": source, "via": via, "lang": lang},
            HTTP_CF_IPCOUNTRY=country,
            HTTP_ACCEPT_LANGUAGE=accept_language,
        )
    assert answers(response) == 200


PUBLIC_PAGES = [
    "/",
    "/nl/",
    "/ru/",
    "/kk/stories/feed/",
    "/stories/",
    "/stories/feed/",
    "/milestones/",
    "/about/",
    "/privacy/",
    "/robots.txt",
    "/sitemap.xml",
    "/petitions/protect-defenders/check-your-inbox/",
    "/petitions/protect-defenders/thank-you/",
    "/petitions/protect-defenders/count.json",
    "/petitions/protect-defenders/badge.svg",
    "/petitions/protect-defenders/embed/",
    "/petitions/protect-defenders/embed/check-your-inbox/",
    "/admin/login/",
]


@fuzz(60)
@given(
    page=st.sampled_from(PUBLIC_PAGES), params=query_params, method=st.sampled_from(["get", "head"])
)
def test_it_answers_every_public_page_whatever_the_query(
    client, petition, fuzzing, page, params, method
):
    with nothing_fails(fuzzing):
        answers(getattr(client, method)(page, params))


@fuzz(60)
@given(
    slug=slugs,
    pattern=st.sampled_from(
        [
            "/petitions/{}/",
            "/petitions/{}/check-your-inbox/",
            "/petitions/{}/thank-you/",
            "/petitions/{}/count.json",
            "/petitions/{}/embed/",
            "/petitions/{}/embed/sign/",
            "/petitions/{}/confirm/",
            "/petitions/{}/withdraw/",
            "/stories/{}/",
            "/nl/stories/{}/",
            "/tr/petitions/{}/confirm/",
        ]
    ),
    method=st.sampled_from(["get", "head", "post"]),
)
def test_it_answers_any_slug_with_a_page(client, petition, fuzzing, slug, pattern, method):
    with nothing_fails(fuzzing):
        answers(getattr(client, method)(pattern.format(quote(slug, safe=""))))


@fuzz(30)
@given(username=a_value(), password=a_value(), code=a_value(), next_url=short_text)
def test_it_answers_any_admin_sign_in_with_a_page(
    client, fuzzing, settings, username, password, code, next_url
):
    settings.RATE_LIMIT_ADMIN_LOGIN_USER = settings.RATE_LIMIT_ADMIN_LOGIN_CLIENT = "1000000/m"
    login = "/admin/login/?" + urlencode({"next": next_url})
    data = {"username": username, "password": password, "otp_token": code}
    with nothing_fails(fuzzing, [username, password]):
        answers(client.post(login, data))

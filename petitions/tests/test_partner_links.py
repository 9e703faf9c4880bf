"""A partner's link (?via=) and a campaign's parameters (utm_*): carried to the form, stored
with the signature (validated, short, never shown back), credited on the coalition page."""

import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import translation

from partners.models import Partner
from petitions import services
from petitions.models import ConsentWording, Signature

pytestmark = pytest.mark.django_db


def test_a_partners_link_names_the_partner_and_fills_the_form(client, petition, zmina):
    url = reverse("petitions:detail", kwargs={"slug": petition.slug})
    html = client.get(url, {"via": "zmina", "utm_source": "Newsletter", "utm_medium": "email"})
    html = html.content.decode()
    assert '<p class="sign-form__partner">With ZMINA Human Rights Centre</p>' in html
    assert '<input type="hidden" name="via" value="zmina"' in html
    assert '<input type="hidden" name="utm_source" value="newsletter"' in html
    assert '<input type="hidden" name="utm_medium" value="email"' in html


@pytest.mark.parametrize(
    "value", ["<script>", "a" * 41, "x y", "../../etc", "ZMINA\x00", "-lead", "зміна"]
)
def test_anything_but_a_short_token_is_dropped_and_never_shown_back(client, petition, value):
    url = reverse("petitions:detail", kwargs={"slug": petition.slug})
    html = client.get(url, {"via": value, "utm_campaign": value}).content.decode()
    assert '<input type="hidden" name="via" id="id_via">' in html
    assert '<input type="hidden" name="utm_campaign" id="id_utm_campaign">' in html
    assert "sign-form__partner" not in html


def test_a_signature_records_the_partner_and_the_campaign_parameters(
    client, petition, sign_data, zmina
):
    url = reverse("petitions:sign", kwargs={"slug": petition.slug})
    data = sign_data(via="zmina", utm_source="newsletter", utm_campaign="spring-2026")
    assert client.post(url, data).status_code == 302
    signature = Signature.objects.get()
    assert signature.partner == zmina
    assert (signature.utm_source, signature.utm_medium, signature.utm_campaign) == (
        "newsletter", "", "spring-2026"
    )  # fmt: skip


def test_an_unknown_partner_is_credited_to_no_one(client, petition, sign_data):
    url = reverse("petitions:sign", kwargs={"slug": petition.slug})
    assert client.post(url, sign_data(via="not-a-partner")).status_code == 302
    assert Signature.objects.get().partner is None


def test_story_and_home_links_carry_the_partner_to_the_petition(client, petition, make_story):
    make_story(slug="kyiv")
    for page in ("/stories/kyiv/", "/"):
        html = client.get(page, {"via": "zmina", "utm_source": "site"}).content.decode()
        assert f"/petitions/{petition.slug}/?from=" in html
        assert "&amp;via=zmina&amp;utm_source=site#sign" in html


def test_erasure_forgets_the_campaign_parameters_and_keeps_the_credit(petition, zmina):
    signature = Signature.objects.create(
        petition=petition, email="a@example.org", country="UA", partner=zmina,
        utm_source="newsletter", utm_medium="email", utm_campaign="x",
    )  # fmt: skip
    services.erase_personal_data(signature)
    signature.refresh_from_db()
    assert (signature.utm_source, signature.utm_medium, signature.utm_campaign) == ("", "", "")
    assert signature.partner == zmina  # like the country: kept for the counts


def test_the_coalition_page_shows_a_partners_figure_rounded_and_only_when_allowed(
    client, petition, zmina, make_signature, settings
):
    settings.BREAKDOWN_MIN_COUNT, settings.BREAKDOWN_ROUNDING = 5, 5
    for _ in range(7):
        make_signature(petition, confirmed=True, partner=zmina)
    make_signature(petition, partner=zmina)  # pending: not counted
    coalition = reverse("pages:coalition")
    assert "came through them" not in client.get(coalition).content.decode()  # not allowed
    Partner.objects.filter(pk=zmina.pk).update(shows_count=True)
    assert Signature.objects.public_counts_by_partner([zmina.pk]) == {zmina.pk: 5}
    html = client.get(coalition).content.decode()
    assert "At least <strong>5</strong> signatures came through them." in html
    settings.BREAKDOWN_MIN_COUNT = 8
    assert Signature.objects.public_counts_by_partner([zmina.pk]) == {}  # below the minimum


def test_signing_through_a_partner_offers_its_own_unticked_consent(client, petition, zmina):
    url = reverse("petitions:detail", kwargs={"slug": petition.slug})
    html = client.get(url, {"via": "zmina"}).content.decode()
    assert "ZMINA may email me about its work" in html
    checkbox = re.search(r'<input type="checkbox" name="partner_updates"[^>]*>', html).group(0)
    assert "checked" not in checkbox  # unticked
    assert "may email me about its work" not in client.get(url).content.decode()


def test_each_consent_is_kept_with_the_exact_words_shown(client, petition, sign_data, zmina):
    url = reverse("petitions:sign", kwargs={"slug": petition.slug})
    data = sign_data(via="zmina", wants_updates="on", partner_updates="on")
    assert client.post(f"/uk{url}", data).status_code == 302
    signature = Signature.objects.select_related("updates_wording", "partner_updates_wording").get()
    assert signature.partner_updates and signature.wants_updates
    with translation.override("uk"):
        campaign_words = translation.gettext("Email me news about this campaign")
        partner_words = translation.gettext("%(partner)s may email me about its work") % {
            "partner": "ZMINA"
        }
    assert (signature.updates_wording.language, signature.updates_wording.text) == (
        "uk", campaign_words
    )  # fmt: skip
    assert signature.partner_updates_wording.text == partner_words
    # The same words are stored once, whoever ticks them.
    client.post(f"/uk{url}", {**data, "email": "other@example.org"})
    assert ConsentWording.objects.count() == 2


def test_a_consent_for_a_partner_needs_the_partners_link(client, petition, sign_data):
    url = reverse("petitions:sign", kwargs={"slug": petition.slug})
    client.post(url, sign_data(partner_updates="on"))
    signature = Signature.objects.get()
    assert (signature.partner, signature.partner_updates) == (None, False)


def test_withdrawing_or_erasing_withdraws_the_consents(client, petition, sign_data, zmina):
    url = reverse("petitions:sign", kwargs={"slug": petition.slug})
    client.post(url, sign_data(via="zmina", wants_updates="on", partner_updates="on"))
    signature = Signature.objects.get()
    services.erase_personal_data(signature)
    signature.refresh_from_db()
    assert (signature.wants_updates, signature.partner_updates) == (False, False)
    assert (signature.updates_wording, signature.partner_updates_wording) == (None, None)


def test_a_partners_supporters_share_links_that_keep_crediting_the_partner(client, petition, zmina):
    url = reverse("petitions:detail", kwargs={"slug": petition.slug})
    html = client.get(url, {"via": "zmina"}).content.decode()
    shared = f"https://campaign.example/petitions/{petition.slug}/?via=zmina"
    assert f'class="share__url" type="url" value="{shared}"' in html
    assert (
        "u=https%3A%2F%2Fcampaign.example%2Fpetitions%2Fprotect-defenders%2F%3Fvia%3Dzmina" in html
    )
    plain = client.get(url).content.decode()
    assert "?via=" not in plain


@pytest.mark.parametrize(("via", "expected"), [("zmina", "?via=zmina"), ("", "")])
def test_the_thank_you_page_credits_the_partner_that_brought_the_signer(
    client, petition, sign_data, zmina, via, expected
):
    from petitions.tokens import confirm_token

    client.post(reverse("petitions:sign", kwargs={"slug": petition.slug}), sign_data(via=via))
    signature = Signature.objects.get()
    url = reverse("petitions:confirm", kwargs={"slug": petition.slug})
    token = confirm_token(signature.public_id)
    response = client.post(url, {"t": token})
    thanks = reverse("petitions:thanks", kwargs={"slug": petition.slug})
    assert response.status_code == 302
    # The token too: the thank-you page shows the signer's receipt.
    assert response["Location"] == thanks + (expected + "&" if via else "?") + urlencode(
        {"t": token}
    )
    html = client.get(response["Location"]).content.decode()
    shared = f"https://campaign.example/petitions/{petition.slug}/{expected}"
    assert f'class="share__url" type="url" value="{shared}"' in html

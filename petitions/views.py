from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.utils.html import escape
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from campaign.lib import ratelimit
from campaign.lib.csrf import is_same_origin_post
from campaign.lib.http import allow_framing_by, can_preview, too_many_requests
from campaign.lib.outage import DATABASE_UNAVAILABLE
from campaign.lib.pagecache import CSRF_SLOT, SlottedPages, TimedCache, public_page
from partners.models import Partner, partner_for
from petitions import exports, services, spool
from petitions.forms import (
    TIMESTAMP_SLOT,
    NewLinkForm,
    OwnDataAddressForm,
    SignatureForm,
    form_timestamp,
    link_params,
    partner_consent_label,
)
from petitions.models import HandedInReceipt, Petition
from petitions.tokens import (
    LinkState,
    normalise_receipt,
    read_confirm_token,
    read_data_token,
    read_withdraw_token,
    receipt_hash,
)

# Published petitions by slug, per worker, for PAGE_CACHE_SECONDS: signing at a campaign's
# peak reads the same row hundreds of times a second. Whether it is open is computed from its
# dates at each use, so closing time is exact; unpublishing takes effect within seconds.
_published = TimedCache()


def _petition_or_404(request: HttpRequest, slug: str) -> Petition:
    """Published petitions for everyone; unpublished ones for staff who may view them."""
    petition = _published.get(slug)
    if petition is not None:
        return petition
    try:
        petition = get_object_or_404(Petition, slug=slug)
    except DATABASE_UNAVAILABLE:
        # While the database is away, the copy this worker last read, however old: the form
        # still shows, and signings wait in the spool (petitions.spool).
        petition = _published.stale(slug)
        if petition is None:
            raise
        return petition
    if not petition.is_published and not can_preview(request, Petition):
        raise Http404("No published petition has this address.")
    if petition.is_published:
        _published.set(slug, petition)
    return petition


def _initial_country(request: HttpRequest) -> str:
    """The visitor's country, when the CDN or proxy says it; used for the form only."""
    if not settings.COUNTRY_HEADER:
        return ""
    header = "HTTP_" + settings.COUNTRY_HEADER.upper().replace("-", "_")
    code = request.META.get(header, "").strip().upper()
    return code if len(code) == 2 and code.isalpha() and code not in {"XX", "T1"} else ""


def _form_partner(form: SignatureForm) -> Partner | None:
    """The partner whose link brought the reader, named beside the form with its consent."""
    partner = partner_for(form["via"].value())
    if partner is not None:
        form.fields["partner_updates"].label = partner_consent_label(partner.display_name)
    return partner


def _render_petition(
    request: HttpRequest, petition: Petition, form: SignatureForm, status: int = 200, **context
) -> HttpResponse:
    partner = _form_partner(form)
    return render(
        request,
        "petitions/petition_detail.html",
        {
            "petition": petition,
            "form": form,
            "stats": petition.stats(),
            "partner": partner,
            **context,
        },
        status=status,
    )


# Filled per visitor on a page otherwise kept for everyone: the CSRF token (with its cookie)
# and when the form was shown.
FORM_SLOTS = {CSRF_SLOT: get_token, TIMESTAMP_SLOT: lambda request: form_timestamp()}


@require_safe
@public_page(slots=FORM_SLOTS)
def petition_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The same page for every visitor but for the CSRF token and the form's timestamp, which
    are rendered as slots and filled per visitor (see campaign.lib.pagecache)."""
    petition = _petition_or_404(request, slug)
    form = SignatureForm(
        initial={
            "country": _initial_country(request),
            "source": request.GET.get("from", "petition"),
            "rendered_at": TIMESTAMP_SLOT,
            **link_params(request.GET),
        }
    )
    return _render_petition(request, petition, form, csrf_token=CSRF_SLOT)


def _take_signature(
    request: HttpRequest,
    petition: Petition,
    form: SignatureForm,
    *,
    show_form: Callable[[int], HttpResponse],
    check_inbox_url: str,
) -> HttpResponse:
    """Signing, wherever the form was shown: show_form(status) shows it again."""
    if not petition.is_open:
        return show_form(403)
    wait = ratelimit.limit(request, "sign", settings.RATE_LIMIT_SIGN)
    if wait:
        return too_many_requests(request, wait)
    if form.looks_automated():
        # A filled honeypot: bots see exactly what people see, and nothing is saved.
        return redirect(check_inbox_url)
    if not form.is_valid():
        # Also a form sent too fast or with a stale timestamp: shown again, as typed, with a
        # fresh timestamp and a request to send it once more.
        return show_form(400)
    try:
        services.sign_petition(
            petition=petition, language=get_language(), **form.signature_fields()
        )
    except services.PetitionClosed:
        return show_form(403)
    except DATABASE_UNAVAILABLE:
        # Kept, sealed, until the database is back, and the signer is told the same as ever;
        # with no spool to keep it in, the calm 503 page (campaign.lib.middleware).
        if not spool.keep(petition=petition, language=get_language(), data=form.spooled_data()):
            raise
    return redirect(check_inbox_url)


@require_POST
def sign(request: HttpRequest, slug: str) -> HttpResponse:
    petition = _petition_or_404(request, slug)
    form = SignatureForm(request.POST)
    return _take_signature(
        request,
        petition,
        form,
        show_form=lambda status: _render_petition(request, petition, form, status=status),
        check_inbox_url=reverse("petitions:check_inbox", kwargs={"slug": petition.slug}),
    )


# The widget: the call, its count and the form, made for partners' sites to frame. It sets no
# cookie and needs none: browsers send none to a framed site of another (third-party cookies
# blocked, SameSite), so its form is protected by the browser's own word on where it was posted
# from (campaign.lib.csrf) instead of Django's cookie-paired token. Only the origins listed for
# the partner its link names may frame it; every other page of the site refuses all framing.

WIDGET_SLOTS = {TIMESTAMP_SLOT: lambda request: form_timestamp()}


def _widget_language(request: HttpRequest) -> str:
    """?lang=ru chooses the widget's language (partners write the address by hand); the
    address's own prefix (/ru/petitions/...) does too."""
    code = request.GET.get("lang", "")
    return code if code in dict(settings.LANGUAGES) else get_language()


def _framed_for(response: HttpResponse, partner: Partner | None) -> HttpResponse:
    return allow_framing_by(response, partner.origins if partner else [])


def _render_widget(
    request: HttpRequest, petition: Petition, form: SignatureForm, status: int = 200
) -> HttpResponse:
    partner = _form_partner(form)
    response = render(
        request,
        "petitions/widget/form.html",
        {"petition": petition, "form": form, "stats": petition.stats(), "partner": partner},
        status=status,
    )
    response["Content-Language"] = get_language()
    return _framed_for(response, partner)


def _widget_query(form: SignatureForm) -> str:
    via = form["via"].value()
    return "?" + urlencode({"via": via}) if via else ""


@require_safe
@public_page(slots=WIDGET_SLOTS)
def widget(request: HttpRequest, slug: str) -> HttpResponse:
    petition = _petition_or_404(request, slug)
    with translation.override(_widget_language(request)):
        form = SignatureForm(
            initial={
                "country": _initial_country(request),
                "source": "widget",
                "rendered_at": TIMESTAMP_SLOT,
                **link_params(request.GET),
            }
        )
        return _render_widget(request, petition, form)


@csrf_exempt
@require_POST
def widget_sign(request: HttpRequest, slug: str) -> HttpResponse:
    petition = _petition_or_404(request, slug)
    form = SignatureForm(request.POST)
    if not is_same_origin_post(request):
        # A form posted from another site's page, or by a browser that says nothing of where
        # from: never saved; shown again as typed, to be sent once more from the widget.
        form.full_clean()
        form.add_error(
            None,
            _("Your browser did not say where this form was sent from, so it was not saved. "
              "Please send it once more."),
        )  # fmt: skip
        return _render_widget(request, petition, form, status=403)
    response = _take_signature(
        request,
        petition,
        form,
        show_form=lambda status: _render_widget(request, petition, form, status=status),
        check_inbox_url=reverse("petitions:widget_check_inbox", kwargs={"slug": petition.slug})
        + _widget_query(form),
    )
    return _framed_for(response, _form_partner(form))


@require_safe
@public_page
def widget_check_inbox(request: HttpRequest, slug: str) -> HttpResponse:
    petition = _petition_or_404(request, slug)
    partner = partner_for(link_params(request.GET).get("via", ""))
    response = render(
        request, "petitions/widget/check_inbox.html", {"petition": petition, "partner": partner}
    )
    return _framed_for(response, partner)


@require_safe
@public_page
def check_inbox(request: HttpRequest, slug: str) -> HttpResponse:
    petition = _petition_or_404(request, slug)
    return render(request, "petitions/check_inbox.html", {"petition": petition})


def _token(request: HttpRequest) -> str:
    """The signed token of an emailed link: in the query string, or posted by its button."""
    return (request.POST if request.method == "POST" else request.GET).get("t", "")


def _link_problem(
    request: HttpRequest, petition: Petition, state: LinkState, token: str = ""
) -> HttpResponse:
    return render(
        request,
        "petitions/link_problem.html",
        {"petition": petition, "state": state.value, "token": token, "form": NewLinkForm()},
        status=410 if state is LinkState.EXPIRED else 400,
    )


def _closed(request: HttpRequest, petition: Petition) -> HttpResponse:
    return render(request, "petitions/closed.html", {"petition": petition}, status=403)


# The button's page is the same for every link to a petition in a language but for the link's
# token and the CSRF token: rendered once per worker, filled in for each link (every signer
# opens one, at the pace of signing).
_confirm_pages = SlottedPages()
LINK_TOKEN_SLOT = "__link_token_slot__"
CONFIRM_SLOTS = {CSRF_SLOT: get_token, LINK_TOKEN_SLOT: lambda request: escape(_token(request))}


def _confirm_page(request: HttpRequest, petition: Petition) -> HttpResponse:
    return _confirm_pages.serve(
        request,
        (get_language(), petition.pk),
        lambda: render(
            request,
            "petitions/confirm.html",
            {"petition": petition, "token": LINK_TOKEN_SLOT, "csrf_token": CSRF_SLOT},
        ),
        CONFIRM_SLOTS,
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, slug: str) -> HttpResponse:
    """GET shows a button and changes nothing (mail scanners open links); POST confirms."""
    petition = _petition_or_404(request, slug)
    token = _token(request)
    state, signature_ref = read_confirm_token(token)
    if state is not LinkState.VALID:
        return _link_problem(request, petition, state, token)
    if request.method == "POST":
        try:
            outcome, via = services.confirm_link(signature_id=signature_ref, petition=petition)
        except services.PetitionClosed:
            return _closed(request, petition)
        if outcome is services.Outcome.NOT_FOUND:
            return _link_problem(request, petition, LinkState.INVALID)
        # Confirmed now, or already by the first click of a double click: the same page, with
        # the signer's receipt (read from the token, which the emailed link's address already
        # holds) and share links crediting the partner that brought the signer.
        thanks = reverse("petitions:thanks", kwargs={"slug": petition.slug})
        return redirect(thanks + "?" + urlencode({**({"via": via} if via else {}), "t": token}))
    confirmation = services.confirmation_state(signature_id=signature_ref, petition=petition)
    if confirmation is services.ConfirmationState.NOT_FOUND:
        return _link_problem(request, petition, LinkState.INVALID)
    if confirmation is services.ConfirmationState.CLOSED:
        return _closed(request, petition)
    if confirmation is services.ConfirmationState.ALREADY_CONFIRMED:
        return render(request, "petitions/already_confirmed.html", {"petition": petition})
    return _confirm_page(request, petition)


@require_POST
def new_link(request: HttpRequest, slug: str) -> HttpResponse:
    """Send a fresh confirmation email: for the signature behind an expired link, or for an
    email address typed in. The answer is the same whether or not that address has signed."""
    petition = _petition_or_404(request, slug)
    wait = ratelimit.limit(request, "links", settings.RATE_LIMIT_LINKS)
    if wait:
        return too_many_requests(request, wait)
    state, signature_ref = read_confirm_token(request.POST.get("t", ""))
    if signature_ref is not None and state in (LinkState.VALID, LinkState.EXPIRED):
        services.request_new_link(petition=petition, signature_id=signature_ref)
        return redirect("petitions:check_inbox", slug=petition.slug)
    form = NewLinkForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "petitions/link_problem.html",
            {"petition": petition, "state": LinkState.INVALID.value, "form": form},
            status=400,
        )
    services.request_new_link(petition=petition, email=form.cleaned_data["email"])
    return redirect("petitions:check_inbox", slug=petition.slug)


def _discreet_link(request: HttpRequest, viewname: str, read_token) -> HttpResponse:
    """A discreet email's link, which names no petition, sent on to the petition's own link
    page with its token: that page says what the link does (opening it changes nothing). A
    token that names no signature goes to the featured petition's, which explains."""
    token = _token(request)
    _state, signature_ref = read_token(token)
    slug = services.petition_of_link(signature_id=signature_ref) if signature_ref else ""
    if not slug:
        featured = Petition.objects.featured()
        if featured is None:
            raise Http404("No petition.")
        slug = featured.slug
    return redirect(reverse(viewname, kwargs={"slug": slug}) + "?" + urlencode({"t": token}))


@never_cache
@require_safe
def discreet_confirm(request: HttpRequest) -> HttpResponse:
    return _discreet_link(request, "petitions:confirm", read_confirm_token)


@never_cache
@require_safe
def discreet_withdraw(request: HttpRequest) -> HttpResponse:
    return _discreet_link(request, "petitions:withdraw", read_withdraw_token)


@never_cache
@require_safe
def discreet_own_data(request: HttpRequest) -> HttpResponse:
    return _discreet_link(request, "petitions:own_data", read_data_token)


@never_cache
@require_safe
def thanks(request: HttpRequest, slug: str) -> HttpResponse:
    """With a confirmation link's token (?t=, as the confirmation sends the signer here), the
    receipt of that signature if it is confirmed; without one, or with any other, the plain page.
    Never cached, here or on the way (a receipt is one signer's): the signer who just confirmed
    also sees a count that includes them (confirming cleared the shared stats cache)."""
    petition = _petition_or_404(request, slug)
    receipt = via = ""
    state, signature_ref = read_confirm_token(request.GET.get("t", ""))
    if state is LinkState.VALID:
        receipt, via = services.receipt_of_link(signature_id=signature_ref, petition=petition)
    partner = partner_for(via or link_params(request.GET).get("via", ""))
    return render(
        request,
        "petitions/thanks.html",
        {"petition": petition, "stats": petition.stats(), "partner": partner, "receipt": receipt},
    )


# After the hand-in: what every signer can check. The public part of the hand-in (see
# petitions.exports) is published as files, and a signer checks their receipt on a page that
# answers only whether that receipt is among those handed in.

# Received codes are read up to this length; a receipt, with dashes and spaces, is far shorter.
_RECEIPT_INPUT_MAX = 100


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def check_receipt(request: HttpRequest, slug: str) -> HttpResponse:
    """GET shows the form; POST checks a receipt. The answer says only whether the receipt is
    among those handed in, and is the same page after the same work (one indexed look-up of the
    code's hash) for a code that is not and for one that cannot be a receipt."""
    petition = _petition_or_404(request, slug)
    result = None
    if request.method == "POST":
        wait = ratelimit.limit(request, "receipts", settings.RATE_LIMIT_LINKS)
        if wait:
            return too_many_requests(request, wait)
        if petition.handed_in_at is not None:
            code = normalise_receipt(request.POST.get("receipt", "")[:_RECEIPT_INPUT_MAX])
            handed_in = HandedInReceipt.objects.filter(
                petition=petition, receipt_hash=receipt_hash(code)
            ).exists()
            result = "included" if handed_in else "not_included"
    return render(request, "petitions/check_receipt.html", {"petition": petition, "result": result})


# The public files change only if staff hand the petition in again.
_PUBLIC_FILE_SECONDS = 600


def _handed_in_or_404(slug: str) -> Petition:
    """A published petition that has been handed in, read afresh (not the per-worker copy), so
    that its files are those of its latest hand-in."""
    return get_object_or_404(
        Petition.objects.published(),
        slug=slug,
        handed_in_manifest_sha256__gt="",
    )


def _public_file(response: HttpResponse, petition: Petition) -> HttpResponse:
    patch_cache_control(response, public=True, max_age=_PUBLIC_FILE_SECONDS)
    # The same for every copy of one hand-in; a new hand-in changes it.
    response["ETag"] = f'"{petition.handed_in_manifest_sha256}"'
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def hand_in_receipts(request: HttpRequest, slug: str) -> HttpResponse:
    """The SHA-256 of every receipt handed in, sorted, one a line: streamed from the index."""
    petition = _handed_in_or_404(slug)
    hashes = (
        HandedInReceipt.objects.filter(petition=petition)
        .order_by("receipt_hash")
        .values_list("receipt_hash", flat=True)
        .iterator(chunk_size=exports.CHUNK_SIZE)
    )
    response = StreamingHttpResponse(
        (chunk.encode("ascii") for chunk in exports.iter_receipts(hashes)),
        content_type="text/plain; charset=utf-8",
    )
    return _public_file(response, petition)


@require_safe
def hand_in_counts(request: HttpRequest, slug: str) -> HttpResponse:
    petition = _handed_in_or_404(slug)
    body = "".join(
        exports.iter_public_counts(petition.handed_in_count or 0, petition.handed_in_countries)
    )
    return _public_file(HttpResponse(body, content_type="text/csv; charset=utf-8"), petition)


@require_safe
def hand_in_manifest(request: HttpRequest, slug: str) -> HttpResponse:
    petition = _handed_in_or_404(slug)
    response = HttpResponse(petition.handed_in_manifest, content_type="text/plain; charset=utf-8")
    return _public_file(response, petition)


def _nothing_to_withdraw(request: HttpRequest, petition: Petition) -> HttpResponse:
    return render(
        request, "petitions/withdrawn.html", {"petition": petition, "done": False}, status=404
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def withdraw(request: HttpRequest, slug: str) -> HttpResponse:
    """GET asks for confirmation; POST withdraws the signature and deletes the details."""
    petition = _petition_or_404(request, slug)
    token = _token(request)
    state, signature_ref = read_withdraw_token(token)
    if state is not LinkState.VALID:
        return _nothing_to_withdraw(request, petition)
    if request.method == "POST":
        if not services.withdraw_signature(signature_id=signature_ref, petition=petition):
            return _nothing_to_withdraw(request, petition)
        return render(request, "petitions/withdrawn.html", {"petition": petition, "done": True})
    withdrawal = services.withdrawal_state(signature_id=signature_ref, petition=petition)
    if withdrawal is services.WithdrawalState.NOT_FOUND:
        return _nothing_to_withdraw(request, petition)
    return render(request, "petitions/withdraw.html", {"petition": petition, "token": token})


# A signer's own data: from any email's link, a copy of what is held about them, or its erasure
# (services.request_data_copy, erase_own_data). The page changes nothing; its two buttons post.


def _own_data_page(
    request: HttpRequest,
    petition: Petition,
    token: str,
    state: "services.OwnDataState",
    form: OwnDataAddressForm | None = None,
    status: int = 200,
) -> HttpResponse:
    if state is services.OwnDataState.NOT_FOUND:
        return _own_data_done(request, petition, "nothing", status=404)
    needs_address = state is services.OwnDataState.NEEDS_ADDRESS
    return render(
        request,
        "petitions/own_data.html",
        {
            "petition": petition,
            "token": token,
            "form": (form or OwnDataAddressForm()) if needs_address else None,
        },
        status=status,
    )


def _own_data_done(
    request: HttpRequest, petition: Petition, done: str, status: int = 200, **context
) -> HttpResponse:
    """The page after a request ("copy", "erased"), or for a link that finds nothing to act on
    ("nothing": erased or withdrawn already, 404) or that does not work ("broken", 400)."""
    return render(
        request,
        "petitions/own_data_done.html",
        {"petition": petition, "done": done, **context},
        status=status,
    )


def _broken_own_data_link(request: HttpRequest, petition: Petition) -> HttpResponse:
    return _own_data_done(request, petition, "broken", status=400)


def _own_data_limited(request: HttpRequest) -> HttpResponse | None:
    wait = ratelimit.limit(request, "own_data", settings.RATE_LIMIT_LINKS)
    return too_many_requests(request, wait) if wait else None


@never_cache
@require_safe
def own_data(request: HttpRequest, slug: str) -> HttpResponse:
    """The two choices, changing nothing (mail scanners open links)."""
    petition = _petition_or_404(request, slug)
    token = _token(request)
    link, signature_ref = read_data_token(token)
    if link is not LinkState.VALID:
        return _broken_own_data_link(request, petition)
    state = services.own_data_state(signature_id=signature_ref, petition=petition)
    return _own_data_page(request, petition, token, state)


@never_cache
@require_POST
def own_data_copy(request: HttpRequest, slug: str) -> HttpResponse:
    """Email the signer a copy of their data: to the address the signature holds, or to the one
    typed, if it is the signature's. The same page whether or not it was (see the service)."""
    petition = _petition_or_404(request, slug)
    if limited := _own_data_limited(request):
        return limited
    token = _token(request)
    link, signature_ref = read_data_token(token)
    if link is not LinkState.VALID:
        return _broken_own_data_link(request, petition)
    state = services.own_data_state(signature_id=signature_ref, petition=petition)
    if state is services.OwnDataState.NOT_FOUND:
        return _own_data_page(request, petition, token, state)
    email = ""
    if state is services.OwnDataState.NEEDS_ADDRESS:
        form = OwnDataAddressForm(request.POST)
        if not form.is_valid():
            return _own_data_page(request, petition, token, state, form=form, status=400)
        email = form.cleaned_data["email"]
    services.request_data_copy(signature_id=signature_ref, petition=petition, email=email)
    return _own_data_done(request, petition, "copy", typed=bool(email))


@never_cache
@require_POST
def own_data_erase(request: HttpRequest, slug: str) -> HttpResponse:
    """Erase everything held about the signer, on every petition."""
    petition = _petition_or_404(request, slug)
    if limited := _own_data_limited(request):
        return limited
    link, signature_ref = read_data_token(_token(request))
    if link is not LinkState.VALID:
        return _broken_own_data_link(request, petition)
    erased = services.erase_own_data(signature_id=signature_ref, petition=petition)
    if not erased:
        return _own_data_done(request, petition, "nothing", status=404)
    return _own_data_done(request, petition, "erased", count=erased)


@require_safe
@public_page
@cache_control(public=True, max_age=15)
def count_json(request: HttpRequest, slug: str) -> JsonResponse:
    petition = get_object_or_404(Petition.objects.published(), slug=slug)
    response = JsonResponse(
        {
            "count": petition.confirmed_count,
            "goal": petition.goal,
            "closes_at": petition.closes_at.isoformat(),
        }
    )
    # Partner organisations show the count on their own sites.
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
@public_page
@cache_control(public=True, max_age=60)
def badge_svg(request: HttpRequest, slug: str) -> HttpResponse:
    """The count as an SVG image, for newsletters and sites without scripts (in the language of
    its address: /ru/petitions/.../badge.svg)."""
    petition = get_object_or_404(Petition.objects.published(), slug=slug)
    count = petition.confirmed_count
    label = ngettext("signature", "signatures", count)
    number = intcomma(count)
    # Wide enough for its text in the font the image names, whatever the language.
    split = 16 + round(9.5 * len(number))
    label_width = 16 + round(7.6 * len(label))
    response = render(
        request,
        "petitions/badge.svg",
        {"petition": petition, "count": count, "number": number, "label": label,
         "split": split, "label_width": label_width, "width": split + label_width},
        content_type="image/svg+xml; charset=utf-8",
    )  # fmt: skip
    response["Access-Control-Allow-Origin"] = "*"
    return response

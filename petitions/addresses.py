"""Which email addresses can receive our email, and the one way each mailbox is written.

The test is what our mail path can deliver: Django's SMTP backend speaks no SMTPUTF8, so the
part before the @ must be plain ASCII (an RFC 5321 dot-atom); the part after it is a host name,
checked and converted as mail software does (IDNA 2008 with the UTS #46 mapping). The result is
lower-case with the domain in its ASCII form, so that "Zoe@Bücher.example" and
"zoe@xn--bcher-kva.example" are one signer, and it is exactly the address the mail library
sends to.
"""

import re
import unicodedata

import idna
from django.core.exceptions import ValidationError
from django.core.mail.message import sanitize_address
from django.utils.translation import gettext_lazy as _

MAX_LENGTH = 254  # RFC 5321's path limit (256) less the angle brackets
MAX_LOCAL_OCTETS = 64
MAX_DOMAIN_OCTETS = 253
MAX_LABEL_OCTETS = 63
# Longer input is refused before any work: the mapping may drop characters (soft hyphens), but
# no deliverable address comes near this.
MAX_INPUT_LENGTH = 1024

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*", re.ASCII)
_ATEXT_AND_DOTS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+", re.ASCII)

MESSAGES = {
    "invalid": _("Enter an email address like name@example.org."),
    "local_characters": _(
        "Use only letters a-z, digits and . _ - + before the @: this address cannot receive "
        "our email."
    ),
    "local_dots": _(
        "This address cannot receive email: before the @, a dot cannot come first, last or "
        "twice in a row."
    ),
    "local_length": _(
        "This address cannot receive email: the part before the @ is longer than 64 characters."
    ),
    "domain": _("This address cannot receive email: check the part after the @."),
    "length": _(
        "This address is too long to receive email: addresses have at most 254 characters."
    ),
}


def _refuse(code: str) -> ValidationError:
    return ValidationError(MESSAGES[code], code=code)


# Most addresses' domains are plain ASCII host names, which IDNA would only lower-case: these
# skip the idna package's (pure Python, per character) mapping, a third of the form's time.
# Anything else (non-ASCII, xn-- labels, "--" anywhere, a label starting or ending with "-")
# goes through IDNA.
_PLAIN_HOST = re.compile(r"(?:(?!-)(?!.*--)[a-z0-9-]{1,63}(?<!-)\.)+(?!-)[a-z0-9-]{1,63}(?<!-)")


def _ascii_domain(domain: str) -> str:
    """The domain's A-label form (xn--), or ValidationError if no host can have this name."""
    if domain.endswith("."):
        domain = domain[:-1]  # the root, written out: the same host
    lowered = domain.lower()
    if domain.isascii() and _PLAIN_HOST.fullmatch(lowered):
        ascii_domain = lowered
    else:
        try:
            ascii_domain = idna.encode(domain, uts46=True).decode("ascii").lower()
        except UnicodeError:  # idna.IDNAError: empty, an IP literal's brackets, a space, ...
            raise _refuse("domain") from None
    # idna checks the lengths too; they are the rule, so they are said here.
    labels = ascii_domain.split(".")
    if (
        len(labels) < 2
        or len(ascii_domain) > MAX_DOMAIN_OCTETS
        or not all(0 < len(label) <= MAX_LABEL_OCTETS for label in labels)
        or labels[-1].isdigit()
    ):
        raise _refuse("domain")
    return ascii_domain


def _local_part(local: str) -> str:
    if not _ATEXT_AND_DOTS.fullmatch(local):
        raise _refuse("local_characters")
    if not _DOT_ATOM.fullmatch(local):
        raise _refuse("local_dots")
    if len(local) > MAX_LOCAL_OCTETS:
        raise _refuse("local_length")
    return local.lower()


def normalise_address(value: str) -> str:
    """The address lower-cased, with its domain in ASCII; ValidationError (with a message that
    says what to change) if email cannot be delivered to it."""
    value = unicodedata.normalize("NFC", value.strip())
    if len(value) > MAX_INPUT_LENGTH:
        raise _refuse("length")
    local, at, domain = value.rpartition("@")
    if not at or not local:
        raise _refuse("invalid")
    address = f"{_local_part(local)}@{_ascii_domain(domain)}"
    if len(address) > MAX_LENGTH:
        raise _refuse("length")
    # What the mail library will send to must be this address and no other: it reads
    # "=?utf-8?q?bob?=" before the @ as an encoded word and would send to bob. (Only such a
    # word can make it differ from a dot-atom checked above; the check is slow, so only then.)
    if "=?" not in local:
        return address
    try:
        sent_to = sanitize_address(address, "utf-8")
    except ValueError:
        raise _refuse("local_characters") from None
    if sent_to != address:
        raise _refuse("local_characters")
    return address

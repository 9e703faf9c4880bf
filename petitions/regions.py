"""The UN M49 sub-region of each country: where the public breakdown counts the signatures of a
high-risk country (petitions.models.HighRiskCountry), so that it never names that country.

From the CLDR's territory containment (common/supplemental/supplementalData.xml, CLDR 41, as
Debian's unicode-cldr-core ships it), limited to the codes django-countries lists. Babel's CLDR
data has the regions' names but not which countries they contain. To compare with a newer CLDR:
`python -m petitions.regions path/to/supplementalData.xml` prints the table below as it would
be from that file. Antarctica, in no UN sub-region, is in the CLDR's "Outlying Oceania".
"""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# M49 code: (name, the alpha-2 codes of its countries and territories).
REGIONS: dict[str, tuple[Promise, str]] = {
    "005": (_("South America"), "AR BO BR BV CL CO EC FK GF GS GY PE PY SR UY VE"),
    "011": (_("Western Africa"), "BF BJ CI CV GH GM GN GW LR ML MR NE NG SH SL SN TG"),
    "013": (_("Central America"), "BZ CR GT HN MX NI PA SV"),
    "014": (
        _("Eastern Africa"),
        "BI DJ ER ET IO KE KM MG MU MW MZ RE RW SC SO SS TF TZ UG YT ZM ZW",
    ),
    "015": (_("Northern Africa"), "DZ EG EH LY MA SD TN"),
    "017": (_("Middle Africa"), "AO CD CF CG CM GA GQ ST TD"),
    "018": (_("Southern Africa"), "BW LS NA SZ ZA"),
    "021": (_("Northern America"), "BM CA GL PM US"),
    "029": (
        _("Caribbean"),
        "AG AI AW BB BL BQ BS CU CW DM DO GD GP HT JM KN KY LC MF MQ MS PR SX TC TT VC VG VI",
    ),
    "030": (_("Eastern Asia"), "CN HK JP KP KR MN MO TW"),
    "034": (_("Southern Asia"), "AF BD BT IN IR LK MV NP PK"),
    "035": (_("South-Eastern Asia"), "BN ID KH LA MM MY PH SG TH TL VN"),
    "039": (_("Southern Europe"), "AD AL BA ES GI GR HR IT ME MK MT PT RS SI SM VA"),
    "053": (_("Australia and New Zealand"), "AU CC CX HM NF NZ"),
    "054": (_("Melanesia"), "FJ NC PG SB VU"),
    "057": (_("Micronesia (region)"), "FM GU KI MH MP NR PW UM"),
    "061": (_("Polynesia"), "AS CK NU PF PN TK TO TV WF WS"),
    "143": (_("Central Asia"), "KG KZ TJ TM UZ"),
    "145": (_("Western Asia"), "AE AM AZ BH CY GE IL IQ JO KW LB OM PS QA SA SY TR YE"),
    "151": (_("Eastern Europe"), "BG BY CZ HU MD PL RO RU SK UA"),
    "154": (_("Northern Europe"), "AX DK EE FI FO GB GG IE IM IS JE LT LV NO SE SJ"),
    "155": (_("Western Europe"), "AT BE CH DE FR LI LU MC NL"),
    "QO": (_("Outlying Oceania"), "AQ"),
}

REGION_OF: dict[str, str] = {
    country: region for region, (_name, members) in REGIONS.items() for country in members.split()
}


def region_of(country: str) -> str:
    """The M49 code of a country's sub-region ("151" for "RU")."""
    return REGION_OF[country]


def is_region(code: str) -> bool:
    return code in REGIONS


def region_name(code: str) -> str:
    """The sub-region's name in the reader's language."""
    return str(REGIONS[code][0])


def _from_cldr(path: str) -> dict[str, list[str]]:
    """Each sub-region (a group of countries, not of other groups) in a CLDR supplemental file,
    with the countries of it that django-countries lists."""
    import xml.etree.ElementTree as ET

    from django_countries.data import COUNTRIES

    contained: dict[str, list[str]] = {}
    for group in ET.parse(path).iter("group"):
        if group.get("status") or group.get("grouping"):
            continue  # the EU, the UN, "Latin America" and deprecated groups: not sub-regions
        contained.setdefault(group.get("type"), []).extend(group.get("contains").split())
    return {
        region: sorted(code for code in members if code in COUNTRIES)
        for region, members in sorted(contained.items())
        if all(len(code) == 2 and code.isalpha() for code in members)
    }


if __name__ == "__main__":
    import sys

    for region, members in _from_cldr(sys.argv[1]).items():
        print(f'    "{region}": "{" ".join(members)}",')

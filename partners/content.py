"""The coalition's organisations, as the campaign names them, led by the Netherlands Helsinki
Committee. Websites, logos, descriptions and contacts are for staff to fill in the admin."""

from django.db import transaction
from django.db.models import Q

from partners.models import Partner

PARTNERS = [
    {"slug": "nhc", "name": "Netherlands Helsinki Committee", "short_name": "NHC",
     "country": "NL", "is_lead": True, "sort_order": 10},
    {"slug": "zmina", "name": "ZMINA Human Rights Centre", "short_name": "ZMINA",
     "country": "UA", "sort_order": 20},
    {"slug": "hungarian-helsinki-committee", "name": "Hungarian Helsinki Committee",
     "country": "HU", "sort_order": 30},
    {"slug": "monitoring-equal-rights", "name": "Association for Monitoring Equal Rights",
     "country": "TR", "sort_order": 40},
    {"slug": "dignity", "name": "Public Association Dignity", "country": "KZ", "sort_order": 50},
    {"slug": "baku-human-rights-club", "name": "Baku Human Rights Club", "country": "AZ",
     "sort_order": 60},
    {"slug": "memorial", "name": "Human Rights Center Memorial", "short_name": "Memorial",
     "country": "RU", "sort_order": 70},
    {"slug": "helsinki-foundation", "name": "Helsinki Foundation for Human Rights",
     "country": "PL", "sort_order": 80},
]  # fmt: skip


@transaction.atomic
def load_partners(*, reset: bool = False) -> dict[str, int]:
    """Create the partners that are missing; `reset` puts the seeded fields back."""
    created = updated = 0
    for row in PARTNERS:
        # Found by name too: stories' partners became partners under slugs of their own.
        partner = Partner.objects.filter(Q(slug=row["slug"]) | Q(name=row["name"])).first()
        if partner is None:
            Partner.objects.create(**row)
            created += 1
        elif reset:
            for field, value in row.items():
                if field != "slug":
                    setattr(partner, field, value)
            partner.save()
            updated += 1
        else:
            # Fill in only what is still empty; staff's edits stay.
            if not partner.short_name and row.get("short_name"):
                partner.short_name = row["short_name"]
            if row.get("is_lead") and not Partner.objects.filter(is_lead=True).exists():
                partner.is_lead = True
            partner.save(update_fields=["short_name", "is_lead"])
    return {"created": created, "updated": updated}

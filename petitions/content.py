"""The campaign's petition: the call to governments at the UN to protect human-rights defenders."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from petitions.models import Petition

SLUG = "protect-human-rights-defenders"

INTRO = """\
Human-rights defenders are people who demand justice and dignity for all of us. Some expose
corruption and ask that the powerful answer for it. Some fight for health care, schooling and
housing for everyone. Some defend the right to live according to one's own gender and sexual
orientation, or a woman's right to choose her own life. Some are farmers and communities
protecting their land and water from pollution and plunder. They are brave, and they are
ordinary people.

And they are under attack. Governments and powerful companies try to silence them by branding
them criminals, terrorists or "foreign agents". They are jailed for speaking out, threatened,
attacked, and killed in shocking numbers.

Twenty years ago, governments around the world signed a declaration promising to protect
human-rights defenders. Now they are meeting at the UN to discuss how defenders are faring.
Add your name, so that they know the world is watching: defenders will hand in every signature
and ask for real protection, not lip service.
"""

DEMANDS = """\
- **Celebrate and protect human-rights defenders**, above all those pushed to the margins and
  attacked for their gender identity, sexual orientation, ethnicity or race, religion, status,
  ability, age or class.
- **Stop attacking, smearing and stigmatising** the people who work to make human rights real
  for every person in the world.
"""


@transaction.atomic
def load_petition(*, reset: bool = False) -> dict[str, int]:
    """Create the campaign petition if it is missing: open now, closing in a year."""
    now = timezone.now()
    defaults = {
        "title": "Protect human-rights defenders everywhere",
        "intro": INTRO,
        "demands": DEMANDS,
        "addressees": "governments meeting at the United Nations",
        "goal": 100_000,
        "opens_at": now,
        "closes_at": now + dt.timedelta(days=365),
        "is_published": True,
    }
    if reset:
        # Keep the dates staff set; put the text back.
        for field in ("opens_at", "closes_at"):
            defaults.pop(field)
        _petition, created = Petition.objects.update_or_create(slug=SLUG, defaults=defaults)
        return {"created": int(created), "updated": int(not created)}
    _petition, created = Petition.objects.get_or_create(slug=SLUG, defaults=defaults)
    return {"created": int(created), "updated": 0}

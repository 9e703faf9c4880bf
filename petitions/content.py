"""The campaign's petition: the call to governments at the UN to protect human-rights defenders."""

import datetime as dt
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from campaign.lib.translated import load_seed
from petitions.models import Petition

# The call in every site language: petitions/seed/<slug>.<language>.toml.
SEED = Path(__file__).resolve().parent / "seed"

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
    """Create the campaign petition if it is missing (open now, closing in a year), with its
    translations; `reset` puts the text back and keeps the dates staff set."""
    now = timezone.now()
    row = {
        "slug": SLUG,
        "title": "Protect human-rights defenders everywhere",
        "intro": INTRO,
        "demands": DEMANDS,
        "addressees": "governments meeting at the United Nations",
        "language": "en",
        "goal": 100_000,
        "is_published": True,
    }
    if not reset or not Petition.objects.filter(slug=SLUG).exists():
        row |= {"opens_at": now, "closes_at": now + dt.timedelta(days=365)}
    created, updated = load_seed(Petition, "slug", [row], reset=reset, folder=SEED)
    return {"created": created, "updated": updated}

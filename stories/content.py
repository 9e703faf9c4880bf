"""The campaign's seed content: the eight stories and the milestones.

Only the Azerbaijan story tells a real person's story, from facts the Human Rights House Network
published; it is written in English and translated into every site language (stories/seed/).
The other seven are sample text, marked as such on the page, for staff to replace in the admin
with the defenders' own stories: each is written in its country's language, with an English
translation.
"""

import datetime as dt
from pathlib import Path

from django.db import transaction

from campaign.lib.translated import load_seed
from partners.models import Partner
from stories.models import Milestone, Story

SEED = Path(__file__).resolve().parent / "seed"

THREATS = (
    "Across the world, people who speak up against abuses are met with intimidation: "
    "harassment and direct threats, surveillance of their phones and online accounts, pressure "
    "on their families, and laws that cut off foreign funding, stretch anti-terrorism rules to "
    "silence criticism, or brand them as foreign agents."
)

SAMPLE_BODY = """\
*Sample text. The campaign team replaces this page with the defender's own story.*

This page will tell the story of a human-rights defender from {country}, written together with
{partner}. Like the other people in this campaign, they stood up to people and institutions far
more powerful than themselves, faced opposition in court, personal threats or financial hardship,
and did not give up.

## What defenders face

{threats}

## Why it matters to all of us

With the help of friends, family and their community, the defenders in this campaign won back
rights that had been taken from them. In doing so they defended those rights for everyone. Their
stories are a reminder that each of us can stand up for human rights where we live.
"""

AZERBAIJAN_BODY = """\
In 2012 the Eurovision Song Contest came to Baku. The Azerbaijani authorities saw a showcase for
the country's wealth, progress and stability, and promised that contestants, fans and foreign
journalists would be free to say what they wanted. No such promise was made to the people of
Azerbaijan.

Rasul Jafarov, a lawyer and human-rights defender, saw the same showcase from the other side. He
had founded the Human Rights Club, a member of the Human Rights House in Baku, and he coordinated
**Sing for Democracy**: a campaign that used the contest to tell the international press what
the human-rights situation in his country really was.

## Ten months of campaigning

Sing for Democracy ran for ten months. Members of the Human Rights House Network joined it, in
Baku and in their own countries, and protested alongside the Azerbaijani defenders. It ended in a
series of protests while the world's press was in the city, and it asked the contestants
themselves to speak out from the stage.

The pictures from those days show peaceful protesters in Sing for Democracy T-shirts surrounded by
police and plain-clothes officers, dragged to waiting vehicles, their mouths covered so that they
could not call for political and media freedom or ask "Where is my vote?"

After the contest Rasul met the winner, Loreen, who spoke publicly about human rights in
Azerbaijan, and other performers added their voices. News agencies around the world covered the
campaign, and it succeeded in putting the country's human-rights record in the spotlight.

## The price of speaking out

Rasul was later arrested, together with other Azerbaijani human-rights defenders, on charges that
were widely considered fabricated, and sentenced to six and a half years in prison after a trial
described as a farce and a miscarriage of justice.

The Human Rights House Network made his case the focus of a campaign for his freedom and for that
of Azerbaijan's other political prisoners. Defenders from more than 100 organisations joined it,
and posters of Rasul and his fellow prisoners hung in 16 Human Rights Houses in 13 countries.

His story shows both the strength of people who raise their voices together and the risks that
defenders take when they do.
"""


def _sample(
    country: str,
    country_name: str,
    partner: str,
    order: int,
    *,
    language: str,
    article: str = "",
) -> dict:
    in_country = f"{article}{country_name}"
    return {
        "slug": country_name.lower(),
        "country": country,
        "language": language,
        "headline": f"A story from {in_country}",
        "defender_name": "Name to follow",
        "partner": partner,
        "teaser": (
            f"Sample text: the story of a human-rights defender from {in_country}, "
            f"told with {partner}, will appear here."
        ),
        "body": SAMPLE_BODY.format(country=in_country, partner=partner, threats=THREATS),
        "sort_order": order,
        "is_sample": True,
    }


# In the order the campaign presents them.
STORIES = [
    _sample(
        "NL", "Netherlands", "Netherlands Helsinki Committee", 10, language="nl", article="the "
    ),
    _sample("UA", "Ukraine", "ZMINA Human Rights Centre", 20, language="uk"),
    _sample("HU", "Hungary", "Hungarian Helsinki Committee", 30, language="hu"),
    _sample("TR", "Turkey", "Association for Monitoring Equal Rights", 40, language="tr"),
    _sample("KZ", "Kazakhstan", "Public Association Dignity", 50, language="kk"),
    {
        "slug": "azerbaijan",
        "country": "AZ",
        "headline": "Singing for democracy in Baku",
        "defender_name": "Rasul Jafarov",
        "partner": "Baku Human Rights Club",
        "teaser": (
            "When Baku hosted Eurovision in 2012, the lawyer Rasul Jafarov used the spotlight to "
            "show the world what the contest's glitter hid, and paid for it with his freedom."
        ),
        "body": AZERBAIJAN_BODY,
        "language": "en",
        "sort_order": 60,
        "is_sample": False,
    },
    _sample("RU", "Russia", "Human Rights Center Memorial", 70, language="ru"),
    _sample("PL", "Poland", "Helsinki Foundation for Human Rights", 80, language="pl"),
]

MILESTONES = [
    {
        "key": "nhc-founded",
        "date": dt.date(1987, 1, 1),
        "precision": Milestone.Precision.YEAR,
        "title": "The Netherlands Helsinki Committee is founded",
        "description": (
            "The committee is set up to represent Dutch civil society in the Helsinki Movement. "
            "Thirty years later it runs #BringHumanRightsHome with partners across Europe."
        ),
    },
    {
        "key": "un-declaration",
        "date": dt.date(1998, 1, 1),
        "precision": Milestone.Precision.YEAR,
        "title": "Governments adopt the UN declaration on human-rights defenders",
        "description": (
            "Governments around the world sign a declaration promising to protect and recognise "
            "the people who defend human rights."
        ),
    },
    {
        "key": "campaign-event-1",
        "date": dt.date(2018, 1, 1),
        "precision": Milestone.Precision.YEAR,
        "title": "Sample: the campaign's first event",
        "description": (
            "Sample text. Describe here the first of the two events the campaign hosted around "
            "the stories: where it was, who spoke, and what came of it."
        ),
        "is_sample": True,
    },
    {
        "key": "campaign-event-2",
        "date": dt.date(2018, 6, 1),
        "precision": Milestone.Precision.YEAR,
        "title": "Sample: the campaign's second event",
        "description": "Sample text. Describe here the second event the campaign hosted.",
        "is_sample": True,
    },
    {
        "key": "un-meeting",
        "date": dt.date(2018, 12, 1),
        "precision": Milestone.Precision.MONTH,
        "title": "Twenty years on, governments meet at the UN",
        "description": (
            "In the declaration's twentieth year, governments hold a special meeting at the UN on "
            "the situation of human-rights defenders. Defenders hand in the petition's signatures "
            "and ask for real protection, not lip service."
        ),
    },
]


@transaction.atomic
def load_stories(*, reset: bool = False) -> dict[str, int]:
    """Create the seed stories and milestones that are missing.

    Content staff have edited is left alone; `reset=True` puts the seed text back.
    """
    # Stories are told with a partner of the coalition (partners.content creates them).
    partners = {partner.name: partner for partner in Partner.objects.all()}
    stories = [
        {**row, "partner": partners.get(row["partner"]), "is_published": True} for row in STORIES
    ]
    created, updated = load_seed(Story, "slug", stories, reset=reset, folder=SEED)
    more_created, more_updated = load_seed(Milestone, "key", MILESTONES, reset=reset, folder=SEED)
    return {"created": created + more_created, "updated": updated + more_updated}

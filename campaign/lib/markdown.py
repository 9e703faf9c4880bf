"""Texts staff write in Markdown (stories, milestones, petitions) reach pages as sanitised HTML."""

from functools import lru_cache

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "a", "ul", "ol", "li", "blockquote",
    "h2", "h3", "h4", "hr", "code", "pre",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=128)
def render_markdown(text: str) -> SafeString:
    """Render Markdown to HTML keeping only a small set of harmless tags, marked safe.

    Raw HTML in the source is escaped by nh3, scripts, styles and event handlers are dropped,
    and every link leaving the site gets rel="noopener noreferrer nofollow". Level-one headings
    are reserved for the page title, so `#` headings lose their tag and keep their text.

    The HTML is marked safe here, right after nh3 has cleaned it, and nowhere else: callers
    put the result into templates as it is, so any change to what is allowed belongs here.
    """
    html = markdown.markdown(text, extensions=["sane_lists", "smarty"], output_format="html")
    return mark_safe(
        nh3.clean(
            html,
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            url_schemes=URL_SCHEMES,
            link_rel="noopener noreferrer nofollow",
        )
    )

"""Staff's Markdown reaches templates as sanitised HTML, marked safe in one place."""

from django.template import Context, Template
from django.utils.safestring import SafeString

from campaign.lib.markdown import render_markdown


def test_it_gives_templates_html_they_show_as_it_is():
    html = render_markdown("A **bold** [link](https://example.org)")
    assert isinstance(html, SafeString)
    shown = Template("{{ html }}").render(Context({"html": html}))
    assert shown == (
        '<p>A <strong>bold</strong> <a href="https://example.org"'
        ' rel="noopener noreferrer nofollow">link</a></p>'
    )


def test_it_marks_safe_only_what_it_has_cleaned():
    html = render_markdown("Hi <script>alert(1)</script> <b onclick=x>b</b> [x](javascript:y)")
    assert "<script" not in html
    assert "onclick" not in html
    assert "javascript:" not in html

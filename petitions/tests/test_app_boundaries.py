"""Apps depend on each other one way, through a small public surface: stories show the
petition only through the petition_cta template tag, and petitions imports nothing from
stories (the project tells the petitions' report the stories' headlines)."""

import ast
import re
from pathlib import Path

from django.conf import settings

# A petition's URLs, templates or fields used directly, rather than through petition_cta.
PETITION_INTERNALS = re.compile(r"petitions[:/]|\bpetition\.")


def imports_from(app: str, other: str) -> dict[str, list[str]]:
    """Modules of `other` that the Python files of `app` import, by file."""
    found = {}
    for source in (Path(settings.BASE_DIR) / app).rglob("*.py"):
        modules = []
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules.append(node.module)
        if mine := [m for m in modules if m.split(".")[0] == other]:
            found[str(source.relative_to(settings.BASE_DIR))] = mine
    return found


def test_petitions_imports_nothing_from_stories():
    assert imports_from("petitions", "stories") == {}


def test_stories_code_imports_nothing_from_petitions():
    assert imports_from("stories", "petitions") == {}


def test_stories_templates_show_the_petition_only_through_petition_cta():
    for template in (Path(settings.BASE_DIR) / "templates" / "stories").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not PETITION_INTERNALS.search(text), template

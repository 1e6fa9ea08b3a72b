"""The integration pages show the examples the tests run, character for character.

A fenced block preceded by `<!-- snippet: PATH -->` must appear verbatim in PATH.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["django.md", "flask.md", "gunicorn.md", "workers.md", "celery.md", "dramatiq.md"]
SNIPPET = re.compile(r"<!-- snippet: (\S+) -->\n```\w*\n(.*?)```\n", re.S)


@pytest.mark.parametrize("page", PAGES)
def test_snippets_match_the_tested_examples(page: str) -> None:
    text = (ROOT / "docs" / page).read_text()
    snippets = SNIPPET.findall(text)
    if page != "gunicorn.md":  # gunicorn.md shows command lines of the other pages' apps
        assert snippets, f"{page} has no snippet taken from a tested example"
    for path, code in snippets:
        assert code in (ROOT / path).read_text(), f"{page}: the {path} snippet is out of date"


def test_threading_page_points_to_the_integrations() -> None:
    text = (ROOT / "docs" / "threading.md").read_text()
    for page in PAGES:
        assert f"]({page})" in text

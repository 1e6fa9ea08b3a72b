"""The code blocks of a docs/ page, for tests that run a page's minimal setup as written."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def first_python_block(page: str) -> str:
    """The first ```python block of docs/<page>."""
    match = re.search(r"^```python\n(.*?)^```$", (DOCS / page).read_text(), re.S | re.M)
    assert match is not None, f"docs/{page} has no python block"
    return match.group(1)


def python_block_with(page: str, marker: str) -> str:
    """The ```python block of docs/<page> that contains `marker`."""
    for block in re.findall(r"^```python\n(.*?)^```$", (DOCS / page).read_text(), re.S | re.M):
        if marker in block:
            return str(block)
    raise AssertionError(f"docs/{page} has no python block with {marker!r}")

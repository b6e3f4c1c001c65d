"""Reading the docs' pages as the tests that run them do."""

from __future__ import annotations

import re
from pathlib import Path


def bash_block_under(page: Path, heading: str) -> str:
    """The first ```bash block after ``heading`` on ``page``."""
    text = page.read_text()
    section = text[text.index(heading) :]
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no bash block under {heading!r} in {page.name}"
    return match[1]

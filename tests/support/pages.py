"""Reading the docs' pages as the tests that run them do."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bash_block_under(page: Path, heading: str) -> str:
    """The first ```bash block after ``heading`` on ``page``."""
    text = page.read_text()
    section = text[text.index(heading) :]
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no bash block under {heading!r} in {page.name}"
    return match[1]


async def run_strictly(script: str) -> subprocess.CompletedProcess[str]:
    """``script`` run by bash in the repository, stopping at its first failing command."""
    return await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )

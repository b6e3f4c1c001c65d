"""Every target the Makefile declares does something, and `make help` describes it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text()


def phony_targets() -> list[str]:
    match = re.search(r"^\.PHONY: (.+)$", MAKEFILE, re.MULTILINE)
    assert match is not None
    return match[1].split()


def test_every_phony_target_has_a_recipe_or_prerequisites() -> None:
    for target in phony_targets():
        rule = re.search(rf"^{re.escape(target)}:(.*)\n((?:\t.*\n)*)", MAKEFILE, re.MULTILINE)
        assert rule is not None, f"{target} is declared but not defined"
        prerequisites = rule[1].split("##")[0].split()
        assert rule[2] or prerequisites != ["env"], f"{target} does nothing but make env"


def make_help() -> dict[str, str]:
    """Target → description, as `make help` prints them."""
    result = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split(None, 1) for line in result.stdout.splitlines() if line.strip()]
    return {row[0]: row[1] for row in rows}


def test_make_help_lists_every_phony_target() -> None:
    assert set(phony_targets()) <= set(make_help())


def test_make_local_is_described_with_everything_it_starts() -> None:
    local = make_help()["local"]
    for part in ("PostgreSQL", "Redis", "Prometheus", "Jaeger", "Grafana"):
        assert part in local


def test_the_environment_is_synced_quietly_in_one_line() -> None:
    # `make local` and `make run` start by syncing: one line, not one per package.
    rule = re.search(r"^\$\(VENV\)/\.synced:.*\n((?:\t.*\n)*)", MAKEFILE, re.MULTILINE)
    assert rule is not None
    recipe = rule[1]
    [sync] = [line for line in recipe.splitlines() if " sync " in line]
    assert "--quiet" in sync.split()
    assert sum(1 for line in recipe.splitlines() if not line.strip().startswith("@")) == 0
    assert recipe.count("echo") == 1

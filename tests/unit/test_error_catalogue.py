"""docs/errors.md lists exactly the reasons of the error table, each with its code."""

from __future__ import annotations

import re
from pathlib import Path

from app.grpc.errors import STATUS_BY_ERROR

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "errors.md"
_ROW = re.compile(r"^\| `([A-Z0-9_]+)` \| ([A-Z_]+) \|", re.MULTILINE)


def _documented() -> dict[str, str]:
    return dict(_ROW.findall(CATALOGUE.read_text()))


def _in_code() -> dict[str, str]:
    # An unexpected error shares StoreFault's row (INTERNAL), so the table holds every reason.
    return {row.reason: row.code.name for row in STATUS_BY_ERROR.values()}


def test_every_reason_of_the_table_is_in_the_catalogue_with_its_code():
    documented = _documented()
    missing = {reason: code for reason, code in _in_code().items() if reason not in documented}
    assert not missing, f"docs/errors.md lacks {missing}"
    wrong = {r: (documented[r], code) for r, code in _in_code().items() if documented[r] != code}
    assert not wrong, f"docs/errors.md gives another code: {wrong}"


def test_the_catalogue_lists_no_reason_the_table_does_not_have():
    extra = set(_documented()) - set(_in_code())
    assert not extra, f"docs/errors.md lists reasons the service never gives: {extra}"


def test_the_readme_links_the_catalogue():
    assert "(docs/errors.md)" in (ROOT / "README.md").read_text()

"""The status codes the manual promises (its Behaviour section, docs/manual.md)."""

from __future__ import annotations

import re
from pathlib import Path

import grpc

MANUAL = Path(__file__).resolve().parents[2] / "docs" / "manual.md"
_CODE = re.compile(r"\b[A-Z][A-Z_]+[A-Z]\b")
_NAMES = frozenset(code.name for code in grpc.StatusCode)


def _codes(text: str) -> frozenset[grpc.StatusCode]:
    return frozenset(grpc.StatusCode[name] for name in _CODE.findall(text) if name in _NAMES)


def codes_of(method: str) -> frozenset[grpc.StatusCode]:
    """OK and the codes in ``method``'s row of the Behaviour table.

    Fails when the table has no row for ``method``: an RPC nobody documented
    has no promised codes to test against.
    """
    rows = re.findall(rf"^\| {re.escape(method)} \|(.*)\|\s*$", MANUAL.read_text(), re.MULTILINE)
    assert rows, f"the manual's Behaviour table has no row for {method}"
    return frozenset({grpc.StatusCode.OK}) | _codes(rows[0])


def codes_of_every_rpc() -> frozenset[grpc.StatusCode]:
    """The codes the MANUAL says any RPC may answer (the paragraph after the table)."""
    found = re.search(
        r"^Every RPC may also answer(.*?)\n\n", MANUAL.read_text(), re.MULTILINE | re.DOTALL
    )
    assert found, "the manual no longer says what every RPC may answer"
    return _codes(found.group(1))

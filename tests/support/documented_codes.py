"""The status codes the Behaviour reference promises (docs/reference/behaviour.md)."""

from __future__ import annotations

import re
from pathlib import Path

import grpc

BEHAVIOUR = Path(__file__).resolve().parents[2] / "docs" / "reference" / "behaviour.md"
_CODE = re.compile(r"\b[A-Z][A-Z_]+[A-Z]\b")
_NAMES = frozenset(code.name for code in grpc.StatusCode)


def _codes(text: str) -> frozenset[grpc.StatusCode]:
    return frozenset(grpc.StatusCode[name] for name in _CODE.findall(text) if name in _NAMES)


def codes_of(method: str) -> frozenset[grpc.StatusCode]:
    """OK and the codes in ``method``'s row of the Behaviour table.

    Fails when the table has no row for ``method``: an RPC nobody documented
    has no promised codes to test against.
    """
    rows = re.findall(rf"^\| {re.escape(method)} \|(.*)\|\s*$", BEHAVIOUR.read_text(), re.MULTILINE)
    assert rows, f"the Behaviour table has no row for {method}"
    return frozenset({grpc.StatusCode.OK}) | _codes(rows[0])


def codes_of_every_rpc() -> frozenset[grpc.StatusCode]:
    """The codes the Behaviour page says any RPC may answer (the paragraph after the table)."""
    found = re.search(
        r"^Every RPC may also answer(.*?)\n\n", BEHAVIOUR.read_text(), re.MULTILINE | re.DOTALL
    )
    assert found, "the Behaviour page no longer says what every RPC may answer"
    return _codes(found.group(1))

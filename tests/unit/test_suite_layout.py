"""The suite's own shape: shared helpers in tests/support/, fixtures in conftest.py."""

from __future__ import annotations

from pathlib import Path

from tests.support.imports import imported_modules

TESTS = Path(__file__).resolve().parents[1]


def is_test_module_or_conftest(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]  # relative imports too: ``from .test_x import``
    return last == "conftest" or last.startswith("test_")


def test_no_module_imports_a_test_module_or_conftest():
    offenders = {
        f"{path.relative_to(TESTS)} imports {module}"
        for path in TESTS.rglob("*.py")
        for module in imported_modules(path)
        if is_test_module_or_conftest(module)
    }
    assert not offenders


def test_helpers_live_in_support_not_beside_conftest():
    beside = {path.name for path in TESTS.glob("*.py")}
    assert beside == {"__init__.py", "conftest.py"}

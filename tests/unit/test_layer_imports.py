"""Arrows point inward: the inner layers never import the process's observability set-up."""

from __future__ import annotations

from pathlib import Path

from tests.support.imports import imported_modules

APP = Path(__file__).resolve().parents[2] / "app"
INNER = ("domain", "usecases", "adapters", "grpc", "config")
SETUP = "app.observability.setup"


def test_inner_layers_and_inner_observability_never_import_the_set_up():
    inner = [path for layer in INNER for path in (APP / layer).rglob("*.py")]
    inner += list((APP / "observability").glob("*.py"))
    offenders = {
        f"{path.relative_to(APP)} imports {module}"
        for path in inner
        for module in imported_modules(path)
        if module == SETUP or module.startswith(f"{SETUP}.")
    }
    assert not offenders

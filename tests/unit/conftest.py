"""Fixtures of the unit tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    """No APP_ variables and no config file: only what a test sets (through the monkeypatch)."""
    for name in list(os.environ):
        if name.startswith("APP_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch

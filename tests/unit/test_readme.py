"""The configuration reference's source lists every setting with its true default; the
README, the front door, names the two commands and the test command."""

from __future__ import annotations

import re
from pathlib import Path

from scripts.settings_table import settings_rows

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION = ROOT / "docs" / "reference" / "configuration.md"
README = ROOT / "README.md"
ROW = re.compile(r"^\| `(APP_[A-Z0-9_]+)` \| `([^`]*)` \|", re.MULTILINE)


def test_every_setting_is_in_the_configuration_reference_with_its_default():
    documented = dict(ROW.findall(CONFIGURATION.read_text()))
    expected = dict(settings_rows())
    assert documented == expected


def test_the_readme_names_the_two_commands_and_the_test_command():
    text = README.read_text()
    for command in ("make local", "make run", "make test"):
        assert command in text


def test_the_readmes_first_screen_has_the_commands_a_curl_call_and_the_docs_map():
    lines = README.read_text().splitlines()
    first_screen = "\n".join(lines[:42])
    for command in ("make local", "make run", "make test", "curl -s"):
        assert command in first_screen
    for page in ("getting-started.md", "http.md", "reference/configuration.md", "adr/index.md"):
        assert f"](docs/{page})" in first_screen
    assert len(lines) <= 200

"""Render the configuration reference page from the settings model.

Every leaf setting gets a row: its environment variable, type, default, bounds
and meaning. The meaning is the field's ``description`` where it has one, else
the meaning column of the page's source, docs/reference/configuration.md (a
table of variable, default and meaning that readers of the repository see
as it is), else the comment written above the field in its section's source.

``python scripts/config_reference.py`` prints the page; the docs site's hook
(scripts/docs_hooks.py) shows it in place of the source at every build.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import annotated_types
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.settings_table import Setting, default_text, every_setting

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "docs" / "reference" / "configuration.md"
SOURCE_ROW = re.compile(r"^\| `(APP_[A-Z0-9_]+)` \| `[^`]*` \| (.*) \|$", re.MULTILINE)
FIELD_LINE = re.compile(r"^\s+(\w+)\s*:")
BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))

INTRODUCTION = """\
# Configuration reference

Generated from the settings model (`app/config/`) at every build of this site,
so it cannot fall behind the code; the meanings are written in this page's
source (`docs/reference/configuration.md`). Defaults, then a YAML file
(`$APP_CONFIG_FILE`, or `config/local.yaml` when it exists), then environment
variables: each overrides the one before. Nested keys use `__` in variable
names: `APP_POSTGRES__DSN` is `postgres.dsn` in YAML. Every value is checked at
start-up; a bad one stops the process with one line naming the setting.

| variable | type | default | bounds | meaning |
|---|---|---|---|---|
"""


@cache
def _comments_above_fields(section: type[BaseModel]) -> dict[str, str]:
    """Field name → the comment lines written right above it in the class body."""
    comments: dict[str, str] = {}
    pending: list[str] = []
    source = inspect.getsource(section)
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = FIELD_LINE.match(line)
        if match and pending:
            comments[match[1]] = " ".join(pending)
        pending = []
    return comments


def written_meanings() -> dict[str, str]:
    """Variable → its meaning in the source page's table (docs/reference/configuration.md)."""
    return dict(SOURCE_ROW.findall(SOURCE.read_text()))


def meaning(setting: Setting, written: dict[str, str]) -> str:
    """The description, else the source page's text for it, else the comment above the field."""
    if setting.field.description:
        return setting.field.description
    return written.get(setting.variable) or _comments_above_fields(setting.section).get(
        setting.name, ""
    )


def bounds(setting: Setting) -> str:
    """The field's numeric bounds, as ``≥ 1, ≤ 1000``; empty when it has none."""
    parts = []
    for constraint in setting.field.metadata:
        for attribute, sign in BOUNDS:
            if isinstance(constraint, annotated_types.BaseMetadata | annotated_types.Interval):
                value = getattr(constraint, attribute, None)
                if value is not None:
                    parts.append(f"{sign} {value}")
    return ", ".join(parts)


def type_name(setting: Setting) -> str:
    """The annotation as a reader would write it: ``int``, ``SecretStr | None``."""
    annotation = setting.field.annotation
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    return re.sub(r"\b(?:typing|pathlib|pydantic(?:\.\w+)*)\.", "", text)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rows() -> Iterator[str]:
    written = written_meanings()
    for setting in every_setting():
        cells = (
            f"`{setting.variable}`",
            f"`{_cell(type_name(setting))}`",
            f"`{_cell(default_text(setting.default))}`",
            bounds(setting),
            _cell(meaning(setting, written)),
        )
        yield "| " + " | ".join(cells) + " |"


def page() -> str:
    return INTRODUCTION + "\n".join(rows()) + "\n"


if __name__ == "__main__":
    print(page(), end="")

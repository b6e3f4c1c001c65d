"""Print every setting as a Markdown table row: environment variable and default.

The README's configuration table is checked against this list by
``tests/unit/test_readme.py``, so a new setting cannot go undocumented.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings


def _default_text(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def settings_rows() -> Iterator[tuple[str, str]]:
    """(environment variable, default) for every leaf setting, in declaration order."""
    defaults = Settings.model_construct()
    for section_name in Settings.model_fields:
        section = getattr(defaults, section_name)
        assert isinstance(section, BaseModel)
        for field_name in type(section).model_fields:
            variable = f"APP_{section_name.upper()}__{field_name.upper()}"
            yield variable, _default_text(getattr(section, field_name))


if __name__ == "__main__":
    for variable, default in settings_rows():
        print(f"| `{variable}` | `{default}` | |")

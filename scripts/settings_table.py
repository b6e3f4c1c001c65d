"""Print every setting as a Markdown table row: environment variable and default.

The configuration reference's source (docs/reference/configuration.md) is
checked against this list by ``tests/unit/test_readme.py``, so a new setting
cannot go undocumented; ``python scripts/settings_table.py`` prints the rows to
start from.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings


def default_text(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


@dataclass(frozen=True)
class Setting:
    """One leaf setting: its environment variable, its field and its default."""

    variable: str
    section: type[BaseModel]
    name: str
    field: FieldInfo
    default: object


def _settings(model: BaseModel, prefix: str) -> Iterator[Setting]:
    for field_name, field in type(model).model_fields.items():
        value = getattr(model, field_name)
        # A field named apart from its setting (``from``, a keyword) reads its alias.
        variable = f"{prefix}__{(field.alias or field_name).upper()}"
        if isinstance(value, BaseModel):
            yield from _settings(value, variable)
        else:
            yield Setting(variable, type(model), field_name, field, value)


def every_setting() -> Iterator[Setting]:
    """Every leaf setting, in declaration order.

    A section nested in a section (``grpc.tls``) gives ``APP_GRPC__TLS__…`` rows.
    """
    defaults = Settings.model_construct()
    for section_name in Settings.model_fields:
        section = getattr(defaults, section_name)
        assert isinstance(section, BaseModel)
        yield from _settings(section, f"APP_{section_name.upper()}")


def settings_rows() -> Iterator[tuple[str, str]]:
    """(environment variable, default as the docs show it) for every leaf setting."""
    for setting in every_setting():
        yield setting.variable, default_text(setting.default)


if __name__ == "__main__":
    for variable, default in settings_rows():
        print(f"| `{variable}` | `{default}` | |")

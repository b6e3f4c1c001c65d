"""Every number a setting holds has an upper bound: absurd values stop the process, named."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from app.config import ConfigError, Settings, load_settings

NUMBERS = (int, float)


def _numbers_in(annotation: object) -> bool:
    """Whether ``annotation`` is a number, an optional one, or a mapping to numbers."""
    if annotation in NUMBERS:
        return True
    arguments = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_numbers_in(argument) for argument in arguments if argument is not type(None))
    if origin is dict:
        return _numbers_in(arguments[1])
    return False


def numeric_fields(
    model: type[BaseModel], prefix: str = ""
) -> Iterator[tuple[str, type[BaseModel], FieldInfo]]:
    """(dotted name, its section, field) of every numeric setting, through every section."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from numeric_fields(annotation, f"{prefix}{name}.")
        elif _numbers_in(annotation):
            yield f"{prefix}{name}", model, field


def upper_bound(field: FieldInfo) -> float | None:
    for constraint in field.metadata:
        if isinstance(constraint, annotated_types.Le):
            return float(constraint.le)  # type: ignore[arg-type]
        if isinstance(constraint, annotated_types.Lt):
            return float(constraint.lt)  # type: ignore[arg-type]
    return None


FIELDS = list(numeric_fields(Settings))
NAMES = [name for name, _, _ in FIELDS]


def test_the_walk_finds_the_numbers_of_every_section() -> None:
    sections = {name.split(".")[0] for name in NAMES}
    assert {"grpc.port", "grpc.method_concurrency", "passwords.memory_cost_kib"} <= set(NAMES)
    assert "grpc.tls.require_client_cert" not in NAMES  # a bool is not a number here
    assert sections >= {"grpc", "postgres", "redis", "sessions", "passwords", "throttling"}


@pytest.mark.parametrize(("name", "section", "field"), FIELDS, ids=NAMES)
def test_every_numeric_setting_has_an_upper_bound(
    name: str, section: type[BaseModel], field: FieldInfo
) -> None:
    if typing.get_origin(field.annotation) is dict:
        # A mapping's values are bounded by its section's validator.
        key = next(iter(field.get_default(call_default_factory=True)))
        with pytest.raises(ValidationError):
            section.model_validate({name.rsplit(".", 1)[1]: {key: 10**18}})
        return
    bound = upper_bound(field)
    assert bound is not None, f"{name} has no upper bound (le=…)"
    default = field.get_default(call_default_factory=True)
    assert default is None or default <= bound


@pytest.mark.parametrize(
    ("variable", "value", "name"),
    [
        ("APP_SESSIONS__TTL_SECONDS", "9999999999999", "sessions.ttl_seconds"),
        ("APP_SESSIONS__ABSOLUTE_LIFETIME_SECONDS", "9999999999999", "absolute_lifetime_seconds"),
        ("APP_PASSWORDS__MEMORY_COST_KIB", "100000000", "passwords.memory_cost_kib"),
        ("APP_PASSWORDS__TIME_COST", "1000", "passwords.time_cost"),
        ("APP_THROTTLING__MAX_WAIT_SECONDS", "1e12", "throttling.max_wait_seconds"),
        ("APP_GRPC__METHOD_CONCURRENCY", '{"Login": 100000000}', "grpc.method_concurrency"),
        ("APP_EVENTS__MAX_LENGTH", "1000000000000", "events.max_length"),
    ],
)
def test_absurd_values_are_refused_in_one_line_naming_the_setting(
    clean_environment: pytest.MonkeyPatch, variable: str, value: str, name: str
) -> None:
    clean_environment.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert name in message and variable in message
    assert "less than or equal" in message or "at most" in message
    assert "\n" not in message


def test_the_defaults_are_within_their_bounds(clean_environment: pytest.MonkeyPatch) -> None:
    load_settings()

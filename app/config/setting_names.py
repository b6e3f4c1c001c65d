"""Which names are settings: the environment variables and YAML keys the model reads.

pydantic-settings reads only the variables that match a field and ignores
every other ``APP_*`` variable, so a misspelt one (``APP_GRPC_PORT``,
``APP_GPRC__PORT``) would silently leave its setting at the default. These
functions list the names the settings model knows, so the loader can refuse
any other with the closest known name.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterator, Mapping

from pydantic import BaseModel

PREFIX = "APP_"
DELIMITER = "__"

#: ``APP_*`` variables that are not settings but are read by the service.
NOT_SETTINGS = frozenset({"APP_CONFIG_FILE"})


def _section_model(annotation: object) -> type[BaseModel] | None:
    """The model a field holds (``TlsSettings``, or ``TlsSettings | None``), if any."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _holds_mapping(annotation: object) -> bool:
    """Whether the field is a mapping, whose keys a variable may name one by one."""
    candidates = (annotation, *typing.get_args(annotation))
    return any(typing.get_origin(candidate) is dict for candidate in candidates)


def setting_paths(model: type[BaseModel]) -> Iterator[tuple[tuple[str, ...], bool]]:
    """Every leaf setting's path of field names, and whether it is a mapping."""
    for name, field in model.model_fields.items():
        section = _section_model(field.annotation)
        if section is not None:
            for path, mapping in setting_paths(section):
                yield (name, *path), mapping
        else:
            yield (name,), _holds_mapping(field.annotation)


def variable_name(path: tuple[str, ...]) -> str:
    """The environment variable of a setting: ``("grpc", "port")`` → ``APP_GRPC__PORT``."""
    return PREFIX + DELIMITER.join(path).upper()


def _closest(name: str, known: list[str]) -> str:
    matches = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {matches[0]}?" if matches else ""


def unknown_variables(model: type[BaseModel], environment: Mapping[str, str]) -> list[str]:
    """One line for each ``APP_*`` variable in ``environment`` that names no setting."""
    paths = list(setting_paths(model))
    known = [variable_name(path) for path, _ in paths]
    mappings = [variable_name(path) + DELIMITER for path, mapping in paths if mapping]
    problems = []
    for name in sorted(environment):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in NOT_SETTINGS or upper in known:
            continue
        if any(upper.startswith(mapping) for mapping in mappings):
            continue
        suggestion = _closest(upper, [*known, *NOT_SETTINGS])
        problems.append(f"environment variable {name} is not a setting{suggestion}")
    return problems


def unknown_keys(
    model: type[BaseModel], data: Mapping[str, object], where: tuple[str, ...] = ()
) -> list[str]:
    """Each key of ``data`` (a YAML file's mapping) that names no setting, dotted
    (``grpc.prot``), with the closest known key (``; did you mean grpc.port?``)."""
    problems = []
    fields = model.model_fields
    for key, value in data.items():
        path = (*where, str(key))
        field = fields.get(str(key))
        if field is None:
            known = [".".join((*where, name)) for name in fields]
            problems.append(f"unknown key {'.'.join(path)}{_closest('.'.join(path), known)}")
            continue
        section = _section_model(field.annotation)
        if section is not None and isinstance(value, Mapping):
            problems.extend(unknown_keys(section, value, path))
    return problems

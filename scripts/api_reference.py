"""Render the API reference page from proto/user_service.proto and its comments.

protoc (grpc_tools, already a dev dependency for ``make proto``) compiles the
contract into a descriptor set with source info, so each RPC, message and field
carries the comment written above it. Every RPC is listed with its request and
response; every message with its fields, their numbers, types and comments, and
every enum with its values. buf's COMMENT_* lint rules (buf.yaml) make sure each
of them has a comment to show.

``python scripts/api_reference.py`` prints the page; the docs site's hook
(scripts/docs_hooks.py) renders it at every build.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = ROOT / "proto"
PROTO_FILE = "user_service.proto"

# Paths into FileDescriptorProto, as SourceCodeInfo.Location.path numbers them.
MESSAGE_TYPE = 4
ENUM_TYPE = 5
MESSAGE_FIELD = 2
MESSAGE_NESTED = 3
MESSAGE_ENUM = 4
MESSAGE_ONEOF = 8
ENUM_VALUE = 2
SERVICE = 6
SERVICE_METHOD = 2

SCALAR_NAMES = {
    value: name.removeprefix("TYPE_").lower()
    for name, value in descriptor_pb2.FieldDescriptorProto.Type.items()
}

INTRODUCTION = """\
# API reference

Generated from `proto/user_service.proto` and its comments at every build of
this site. The gRPC service is `userService.UserService`: a method is called as
`/userService.UserService/<Method>`. Which status each method answers, and when,
is in the [Behaviour](behaviour.md) reference and the
[error catalogue](../errors.md).
"""


def descriptor_set(
    proto_dir: Path = PROTO_DIR, proto_file: str = PROTO_FILE
) -> descriptor_pb2.FileDescriptorSet:
    """A contract compiled by protoc, with comments (source info)."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "contract.binpb"
        arguments = [
            "protoc",
            f"-I{proto_dir}",
            f"-I{Path(protoc.__file__).parent / '_proto'}",
            "--include_source_info",
            f"--descriptor_set_out={output}",
            proto_file,
        ]
        if protoc.main(arguments) != 0:
            raise RuntimeError(f"protoc could not compile {proto_file}")
        return descriptor_pb2.FileDescriptorSet.FromString(output.read_bytes())


def contract_file(
    proto_dir: Path = PROTO_DIR, proto_file: str = PROTO_FILE
) -> descriptor_pb2.FileDescriptorProto:
    return next(f for f in descriptor_set(proto_dir, proto_file).file if f.name == proto_file)


def comments(source: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    """Location path → the comment written above (or after) that element."""
    found = {}
    for location in source.source_code_info.location:
        text = location.leading_comments or location.trailing_comments
        if text.strip():
            lines = (line.strip() for line in text.strip().splitlines())
            found[tuple(location.path)] = " ".join(lines)
    return found


def _short(type_name: str, package: str) -> str:
    return type_name.removeprefix(f".{package}.").removeprefix(".")


def _anchor(name: str) -> str:
    """The id MkDocs gives the heading ``name`` (``Outer.Inner`` → ``outerinner``)."""
    return re.sub(r"[^\w-]", "", name.lower())


def _field_type(field: descriptor_pb2.FieldDescriptorProto, package: str) -> str:
    if field.type_name:
        name = _short(field.type_name, package)
        shown = (
            f"[{name}](#{_anchor(name)})"
            if not field.type_name.startswith(".google")
            else f"`{name}`"
        )
    else:
        shown = f"`{SCALAR_NAMES[field.type]}`"
    repeated = field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    return f"repeated {shown}" if repeated else shown


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _real_oneof(field: descriptor_pb2.FieldDescriptorProto) -> bool:
    """In a oneof the contract declares (not the one proto3 makes for ``optional``)."""
    return field.HasField("oneof_index") and not field.proto3_optional


def _enum(
    enum: descriptor_pb2.EnumDescriptorProto,
    path: Sequence[int],
    name: str,
    notes: dict[tuple[int, ...], str],
) -> Iterator[str]:
    yield f"### {name}"
    yield ""
    if note := notes.get(tuple(path)):
        yield note
        yield ""
    yield "| value | number | meaning |"
    yield "|---|---|---|"
    for index, value in enumerate(enum.value):
        meaning = _cell(notes.get((*path, ENUM_VALUE, index), ""))
        yield f"| `{value.name}` | {value.number} | {meaning} |"
    yield ""


def _oneofs(
    message: descriptor_pb2.DescriptorProto,
    path: Sequence[int],
    notes: dict[tuple[int, ...], str],
) -> Iterator[str]:
    for index, oneof in enumerate(message.oneof_decl):
        members = [
            f"`{f.name}`" for f in message.field if _real_oneof(f) and f.oneof_index == index
        ]
        if members:
            note = notes.get((*path, MESSAGE_ONEOF, index), "")
            yield ""
            yield f"At most one of {', '.join(members)} (`{oneof.name}`). {note}".rstrip()


def _message(
    message: descriptor_pb2.DescriptorProto,
    path: Sequence[int],
    prefix: str,
    notes: dict[tuple[int, ...], str],
    package: str,
) -> Iterator[str]:
    name = f"{prefix}{message.name}"
    yield f"### {name}"
    yield ""
    if note := notes.get(tuple(path)):
        yield note
        yield ""
    if message.field:
        yield "| field | number | type | meaning |"
        yield "|---|---|---|---|"
        for index, field in enumerate(message.field):
            meaning = _cell(notes.get((*path, MESSAGE_FIELD, index), ""))
            yield f"| `{field.name}` | {field.number} | {_field_type(field, package)} | {meaning} |"
    else:
        yield "No fields."
    yield from _oneofs(message, path, notes)
    if message.reserved_range:
        numbers = ", ".join(
            str(r.start) if r.end == r.start + 1 else f"{r.start} to {r.end - 1}"
            for r in message.reserved_range
        )
        yield ""
        yield f"Reserved numbers: {numbers} (never reused)."
    yield ""
    for index, nested in enumerate(message.nested_type):
        if not nested.options.map_entry:
            yield from _message(nested, (*path, MESSAGE_NESTED, index), f"{name}.", notes, package)
    for index, enum in enumerate(message.enum_type):
        yield from _enum(enum, (*path, MESSAGE_ENUM, index), f"{name}.{enum.name}", notes)


def page(source: descriptor_pb2.FileDescriptorProto | None = None) -> str:
    """The reference page of ``source``, by default the service's contract."""
    source = source or contract_file()
    notes = comments(source)
    package = source.package
    lines = [INTRODUCTION]
    for service_index, service in enumerate(source.service):
        lines += [f"## {package}.{service.name}", ""]
        if note := notes.get((SERVICE, service_index)):
            lines += [note, ""]
        lines += ["| method | request → response | meaning |", "|---|---|---|"]
        for index, method in enumerate(service.method):
            request = _short(method.input_type, package)
            response = _short(method.output_type, package)
            meaning = _cell(notes.get((SERVICE, service_index, SERVICE_METHOD, index), ""))
            exchange = f"[{request}](#{_anchor(request)}) → [{response}](#{_anchor(response)})"
            lines.append(f"| `{method.name}` | {exchange} | {meaning} |")
        lines.append("")
    lines += ["## Messages", ""]
    for index, message in enumerate(source.message_type):
        lines += _message(message, (MESSAGE_TYPE, index), "", notes, package)
    if source.enum_type:
        lines += ["## Enums", ""]
    for index, enum in enumerate(source.enum_type):
        lines += _enum(enum, (ENUM_TYPE, index), enum.name, notes)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(page(), end="")

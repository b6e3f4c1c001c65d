"""Hypothesis strategies for hostile input: strings, messages, bodies and metadata.

Messages are built from their descriptors, field by field, so any RPC added to
the proto is covered without a change here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

SQL_FRAGMENTS = (
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    '" OR 1=1 --',
    "' UNION SELECT password_hash FROM users --",
    "1; SELECT pg_sleep(30)",
    "admin'--",
    "$1",
    "%s%s%s",
    "\\",
    "E'\\x00'",
    "lower(email)",
)
REDIS_FRAGMENTS = (
    "*1\r\n$8\r\nFLUSHALL\r\n",
    "\r\nFLUSHDB\r\n",
    "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
    "EVAL \"return redis.call('FLUSHALL')\" 0",
    "session:*",
    "{slot}",
    "$-1\r\n",
)
OTHER_FRAGMENTS = (
    "\x00",
    "\x1b[2J",
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\ufeff",  # byte order mark
    "\U0001d56c",  # mathematical fraktur A
    "\uff4bate@example.com",  # fullwidth k
    "k\u0430te@example.com",  # Cyrillic a
    "../../etc/passwd",
    "${jndi:ldap://127.0.0.1/a}",
    "<script>alert(1)</script>",
    "%00%0d%0a",
    "00000000-0000-0000-0000-000000000000",
    "@",
    "a@b",
)
FRAGMENTS = SQL_FRAGMENTS + REDIS_FRAGMENTS + OTHER_FRAGMENTS

# Every character a protobuf string may hold (surrogates cannot be encoded).
_CHARACTERS = st.characters(exclude_categories=["Cs"])
# Printable ASCII: gRPC refuses anything else in a text header value, on the client side.
_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_DOMAINS = st.sampled_from(("example.com", "EXAMPLE.com", "xn--80ak6aa92e.com", "localhost"))


def hostile_text() -> st.SearchStrategy[str]:
    """Arbitrary unicode (NUL and control characters included), injection fragments,
    mixtures of both, plausible addresses and very long values."""
    mixture = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(_CHARACTERS, max_size=8)))
    return st.one_of(
        st.text(_CHARACTERS),
        st.sampled_from(FRAGMENTS),
        mixture.map("".join),
        st.builds(lambda local, domain: f"{local}@{domain}", st.text(_CHARACTERS), _DOMAINS),
        st.uuids().map(str),
        st.builds(lambda char, count: char * count, _CHARACTERS, st.integers(200, 100_000)),
    )


HOSTILE_TEXT = hostile_text()
# The strings to put in a field, chosen by the field.
Texts = Callable[[FieldDescriptor], st.SearchStrategy[str]]


@dataclass(frozen=True)
class Known:
    """A registered user the examples may name, so some requests are valid."""

    email: str
    password: str
    user_id: str
    # A live password reset token of the user (ResetPassword's examples may use it).
    reset_token: str = ""


def plausible_text(field: FieldDescriptor, known: Known) -> st.SearchStrategy[str]:
    """Values a well-meaning client would put in ``field``, guessed from its name."""
    name = field.name.lower()
    if "email" in name:
        fresh = st.uuids().map(lambda value: f"hostile-{value.hex}@example.com")
        return st.one_of(st.just(known.email), st.just(known.email.upper()), fresh)
    if "password" in name:
        typed = st.text(_PRINTABLE, min_size=8, max_size=128)
        return st.one_of(st.just(known.password), typed)
    if name == "token" and known.reset_token:
        return st.just(known.reset_token)  # the hostile ones come from ``requests``
    if name == "totp_code":  # a user without a factor sends none
        return st.sampled_from(("", "000000"))
    if name == "code":  # CompleteLogin's: a TOTP code's or a recovery code's shape
        return st.sampled_from(("000000", "123456", "ABCD-EFGH-JKLM-NPQR"))
    if name == "uuid" or name.endswith("id"):
        return st.one_of(st.just(known.user_id), st.uuids().map(str))
    if "name" in name:
        return st.sampled_from(("Ada", "Grace Hopper", "Zo\u00eb", "\u674e", "O'Brien"))
    if name == "role":
        return st.sampled_from(("", "user", "admin"))
    if name == "code" or name.endswith("_code"):  # a TOTP code's form: six digits
        return st.from_regex(r"[0-9]{6}", fullmatch=True)
    if name.endswith("token") or name.endswith("ticket"):  # a secret's form: URL-safe base64
        return st.from_regex(r"[A-Za-z0-9_-]{43}", fullmatch=True)
    if name == "paths":  # a FieldMask's: the fields an update may name (AIP-134)
        return st.sampled_from(("first_name", "last_name", "avatar", "*"))
    if name == "avatar" or "url" in name:
        return st.sampled_from(("", "https://example.com/a.png"))
    return st.text(_PRINTABLE, max_size=20)


def _scalar(field: FieldDescriptor, texts: Texts) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return texts(field)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary()
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        numbers = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-(2**31), 2**31 - 1))
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return st.floats(width=32 if kind == FieldDescriptor.TYPE_FLOAT else 64)
    unsigned = kind in (
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_FIXED64,
    )
    wide = kind in (
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_FIXED64,
    )
    bits = 64 if wide else 32
    if unsigned:
        return st.integers(0, 2**bits - 1)
    return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def _field(
    field: FieldDescriptor, texts: Texts, depth: int, every_field: bool = False
) -> st.SearchStrategy[Any]:
    nested = field.message_type
    if nested is not None and nested.GetOptions().map_entry:
        entry = nested.fields_by_name
        keys, values = _scalar(entry["key"], texts), _field(entry["value"], texts, depth + 1)
        return st.dictionaries(keys, values, max_size=3)
    if nested is not None:
        single: st.SearchStrategy[Any] = messages(
            nested, texts, every_field=every_field, depth=depth + 1
        )
    else:
        single = _scalar(field, texts)
    return st.lists(single, max_size=3) if field.is_repeated else single


def messages(
    descriptor: Descriptor, texts: Texts, *, every_field: bool = False, depth: int = 0
) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor``, their strings drawn from ``texts(field)``.

    Any subset of the fields is set, or ``every_field`` (in nested messages too: a
    plausible ``user`` of an update has its ``uuid``). Nested messages go three
    levels deep; below that they are left unset.
    """
    message_class = GetMessageClass(descriptor)
    if depth > 3:
        return st.builds(message_class)
    fields = {field.name: _field(field, texts, depth, every_field) for field in descriptor.fields}
    chosen = (
        st.fixed_dictionaries(fields) if every_field else st.fixed_dictionaries({}, optional=fields)
    )
    return chosen.map(lambda values: message_class(**values))


def requests(descriptor: Descriptor, known: Known) -> st.SearchStrategy[Message]:
    """Requests of type ``descriptor``: wholly hostile, or plausible with some fields hostile."""

    def mostly_plausible(field: FieldDescriptor) -> st.SearchStrategy[str]:
        return st.integers(0, 3).flatmap(
            lambda pick: HOSTILE_TEXT if pick == 0 else plausible_text(field, known)
        )

    return st.one_of(
        messages(descriptor, lambda _: HOSTILE_TEXT),
        messages(descriptor, mostly_plausible, every_field=True),
    )


@st.composite
def corrupted(draw: st.DrawFn, descriptor: Descriptor) -> bytes:
    """A message of ``descriptor`` on the wire, then cut, flipped, padded or given bad UTF-8."""
    raw = draw(messages(descriptor, lambda _: HOSTILE_TEXT)).SerializeToString()
    how = draw(st.sampled_from(("cut", "flip", "insert", "bad_utf8")))
    if how == "cut":
        return raw[: draw(st.integers(0, len(raw)))]
    if how == "flip" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    if how == "bad_utf8":
        strings = [f for f in descriptor.fields if f.type == FieldDescriptor.TYPE_STRING]
        if strings:
            field = draw(st.sampled_from(strings))
            junk = draw(st.binary(min_size=1, max_size=100)) + b"\xff"
            return raw + bytes([(field.number << 3) | 2, len(junk)]) + junk
    at = draw(st.integers(0, len(raw)))
    return raw[:at] + draw(st.binary(min_size=1, max_size=64)) + raw[at:]


def bodies(descriptor: Descriptor) -> st.SearchStrategy[bytes]:
    """Request bodies for a method taking ``descriptor``: random bytes, or a broken message."""
    return st.one_of(st.binary(max_size=4096), corrupted(descriptor))


_HEADER_FRAGMENTS = tuple(f for f in FRAGMENTS if f.isascii() and f.isprintable())
# Transport headers: setting them tests gRPC's HTTP/2 layer, not this service.
_TRANSPORT_KEYS = frozenset({"te", "content-type", "host"})


def header_values() -> st.SearchStrategy[str]:
    """Header values gRPC lets a client send: short, injection fragments, or long."""
    long = st.builds(lambda char, count: char * count, _PRINTABLE, st.integers(256, 1200))
    return st.one_of(st.text(_PRINTABLE, max_size=40), st.sampled_from(_HEADER_FRAGMENTS), long)


def credentials(valid_session_id: str) -> st.SearchStrategy[tuple[str, str]]:
    """``session_id`` and ``authorization`` entries: valid, odd, malformed and huge."""
    value = st.one_of(header_values(), st.just(valid_session_id))
    scheme = st.sampled_from(("Bearer", "bearer", "BEARER", "Basic", "Token", "", "Bearer,"))
    authorization = st.one_of(
        st.builds(lambda s, v: f"{s} {v}", scheme, value),
        st.sampled_from(("Bearer", "Bearer ", "bearer  ", "Basic dXNlcjpwYXNz", "Bearer a, b")),
        value,
    )
    return st.one_of(
        st.tuples(st.just("session_id"), value),
        st.tuples(st.just("authorization"), authorization),
    )


def metadata(valid_session_id: str) -> st.SearchStrategy[list[tuple[str, str | bytes]]]:
    """Request metadata: credentials (duplicated too), forwarded addresses, user agents,
    trace context, arbitrary keys and binary (``-bin``) entries, in any order.

    Half the time it holds exactly one valid credential, so the examples also
    reach what lies behind authentication.
    """
    keys = st.from_regex(r"\A[a-z][a-z0-9_.-]{0,15}\Z").filter(
        lambda key: (
            key not in _TRANSPORT_KEYS
            and not key.startswith("grpc-")
            and not key.endswith("-bin")
            and key not in ("session_id", "authorization")
        )
    )
    known = st.sampled_from(("x-forwarded-for", "user-agent", "traceparent", "tracestate"))
    others = st.one_of(
        st.tuples(known, header_values()),
        st.tuples(keys, header_values()),
        st.tuples(keys.map(lambda key: f"{key}-bin"), st.binary(max_size=64)),
    )
    valid = st.sampled_from(
        (("session_id", valid_session_id), ("authorization", f"Bearer {valid_session_id}"))
    )
    signed_in = st.tuples(valid, st.lists(others, max_size=4)).map(
        lambda parts: [parts[0], *parts[1]]
    )
    anything = st.lists(st.one_of(credentials(valid_session_id), others), max_size=6)
    # Over gRPC's limit (8 KiB, 16 KiB at the latest) gRPC itself refuses the call
    # and resets the connection, which costs a reconnection: one draw in forty.
    huge_value = st.builds(lambda char, count: char * count, _PRINTABLE, st.integers(8000, 20_000))
    huge_key = st.sampled_from(("session_id", "authorization", "user-agent", "x-anything"))
    huge = st.tuples(st.tuples(huge_key, huge_value), anything).map(
        lambda parts: [parts[0], *parts[1]]
    )
    usual = st.one_of(signed_in, anything)
    return st.integers(0, 39).flatmap(lambda pick: huge if pick == 0 else usual)

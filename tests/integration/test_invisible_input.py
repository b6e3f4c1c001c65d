"""Names that show as nothing and avatars that are not https URLs, refused through the real service.

Each refusal is INVALID_ARGUMENT with a ``google.rpc.BadRequest`` naming the field.
"""

from __future__ import annotations

import grpc
import pytest

from tests.support.client import register
from tests.support.error_details import field_violation


@pytest.mark.parametrize(
    ("fields", "field_named"),
    [
        ({"first_name": "\u3164"}, "first_name"),  # Hangul filler, a "letter"
        ({"first_name": "Ada\u115f\u1160"}, "first_name"),
        ({"last_name": "Love\uffa0lace"}, "last_name"),
        ({"last_name": "Lovelace\u2800"}, "last_name"),
        ({"first_name": "Ada\u2028Lovelace"}, "first_name"),
        ({"last_name": "Ada\u2029Lovelace"}, "last_name"),
        ({"avatar": "javascript:alert(document.cookie)"}, "avatar"),
        ({"avatar": "data:text/html,<script>alert(1)</script>"}, "avatar"),
        ({"avatar": "https://example.com/\u202egnp.exe"}, "avatar"),
        ({"avatar": "https://user:pass@example.com/a.png"}, "avatar"),
        ({"avatar": "http://example.com/a.png"}, "avatar"),
    ],
)
async def test_invisible_names_and_unsafe_avatars_are_field_violations(stub, fields, field_named):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await register(stub, **fields)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violation = field_violation(caught.value)
    assert violation.field == field_named
    assert violation.description.startswith(f"{field_named}: ")


async def test_an_https_avatar_and_a_korean_name_are_kept(stub):
    user = await register(
        stub, first_name="한국", last_name="山田", avatar="https://example.com/a.png?s=64"
    )
    assert (user.first_name, user.avatar) == ("한국", "https://example.com/a.png?s=64")

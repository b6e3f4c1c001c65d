"""Page tokens as signed and read, and the email prefix as a range, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.adapters.login_secrets import LoginSecrets
from app.adapters.page_tokens import SignedPageTokens
from app.adapters.postgres.user_directory import prefix_upper_bound
from app.domain.errors import InvalidInput
from app.domain.listing import PageCursor, PageToken, UserFilter
from app.domain.users import Role
from tests.unit.fakes import FakeClock

LIFETIME = 3600
CURSOR = PageCursor(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4())
ALL = UserFilter()


def _tokens(clock: FakeClock, root: bytes = b"r" * 32) -> SignedPageTokens:
    return SignedPageTokens(
        LoginSecrets(root).page_token_key, lifetime_seconds=LIFETIME, clock=clock
    )


def _refusal(tokens: SignedPageTokens, token: str, user_filter: UserFilter = ALL) -> str:
    with pytest.raises(InvalidInput) as caught:
        tokens.read(PageToken(token), user_filter)
    assert caught.value.field == "page_token"
    return caught.value.public_message


def test_a_token_gives_back_its_cursor_to_the_microsecond():
    tokens = _tokens(FakeClock())
    assert tokens.read(PageToken(tokens.issue(ALL, CURSOR)), ALL) == CURSOR


def test_a_token_is_valid_for_its_lifetime_and_stale_after():
    clock = FakeClock()
    tokens = _tokens(clock)
    token = tokens.issue(ALL, CURSOR)
    clock.advance(LIFETIME)
    assert tokens.read(PageToken(token), ALL) == CURSOR
    clock.advance(1)
    assert "expired" in _refusal(tokens, token)


def test_a_token_from_another_secret_or_altered_is_refused():
    clock = FakeClock()
    token = _tokens(clock, root=b"o" * 32).issue(ALL, CURSOR)
    assert "not a page token" in _refusal(_tokens(clock), token)
    ours = _tokens(clock).issue(ALL, CURSOR)
    # One character of the signed part changed (the payload is compressed: edit it blind).
    position = 10
    altered = ours[:position] + ("A" if ours[position] != "A" else "B") + ours[position + 1 :]
    assert "not a page token" in _refusal(_tokens(clock), altered)
    assert "not a page token" in _refusal(_tokens(clock), ours[:-1])


def test_a_token_is_bound_to_its_filters():
    tokens = _tokens(FakeClock())
    token = tokens.issue(UserFilter(email_prefix="ada"), CURSOR)
    assert "other filters" in _refusal(tokens, token, UserFilter(email_prefix="adb"))
    assert "other filters" in _refusal(
        tokens, token, UserFilter(email_prefix="ada", role=Role.USER)
    )
    assert tokens.read(PageToken(token), UserFilter(email_prefix="ada")) == CURSOR


def test_page_tokens_and_device_tokens_have_separate_keys():
    secrets = LoginSecrets(b"r" * 32)
    assert secrets.page_token_key != secrets.device_token_key


# Text the way PostgreSQL's text_pattern_ops compares it: by UTF-8 bytes.
_TEXT = st.text(st.characters(exclude_categories=["Cs"], min_codepoint=1), max_size=6)
_EDGES = st.sampled_from(["\U0010ffff", "\ud7ff", "\ue000", "a", "\x7f", "\uffff"])
_MIXED = st.lists(st.one_of(_EDGES, _TEXT), max_size=4).map("".join)


@given(prefix=_MIXED, text=_MIXED)
def test_the_prefix_range_holds_exactly_the_texts_with_that_prefix(prefix, text):
    upper = prefix_upper_bound(prefix)
    encoded = text.encode()
    inside = prefix.encode() <= encoded and (upper is None or encoded < upper.encode())
    assert inside == text.startswith(prefix)


def test_a_prefix_of_only_the_last_code_point_has_no_upper_bound():
    assert prefix_upper_bound("\U0010ffff\U0010ffff") is None
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\ud7ff") == "\ue000"

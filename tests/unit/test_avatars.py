"""An avatar is an https URL a client can show as an image, and nothing that reads as another."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from app.config import ProfileSettings
from app.domain.errors import InvalidInput
from app.domain.passwords import PasswordPolicy
from app.domain.users import AVATAR_MAX_LENGTH, parse_registration


def _avatar(raw: str) -> str | None:
    registration = parse_registration(
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        password="long enough",
        role="",
        avatar=raw,
        policy=PasswordPolicy(),
    )
    return registration.avatar


def _refusal(raw: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        _avatar(raw)
    assert caught.value.field == "avatar"
    return str(caught.value)


@pytest.mark.parametrize("blank", ["", "   "])
def test_no_avatar_is_allowed(blank: str) -> None:
    assert _avatar(blank) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a.png",
        "HTTPS://Example.COM:8443/avatars/ada.png?size=64#top",
        "https://[2001:db8::1]/a.png",
        "https://xn--80ak6aa92e.com/a.png",
    ],
)
def test_https_urls_with_a_host_are_kept(url: str) -> None:
    assert _avatar(url) == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("javascript:alert(1)", "scheme https"),
        ("JavaScript://example.com/%0aalert(1)", "scheme https"),
        ("data:image/png;base64,iVBORw0KGgo=", "scheme https"),
        ("http://example.com/a.png", "scheme https"),
        ("//example.com/a.png", "scheme https"),
        ("a.png", "scheme https"),
        ("https:///a.png", "host"),
        ("https://user:secret@example.com/a.png", "user name or password"),
        ("https://user@example.com/a.png", "user name or password"),
        ("https://example.com:port/a.png", "valid URL"),
        ("https://[::1/a.png", "valid URL"),
        ("https://example.com/\u202egnp.exe", "bidi"),
        ("https://example.com/a\u200b.png", "bidi"),
        ("https://example.com/a b.png", "white space"),
        ("https://example.com/a\u3000b.png", "white space"),
        ("https://example.com/a\u3164.png", "invisible"),
        ("https://example.com/\x7f", "control"),
    ],
)
def test_other_schemes_hosts_credentials_and_invisible_characters_are_refused(
    url: str, says: str
) -> None:
    assert says in _refusal(url)


def test_an_avatar_is_bounded_by_its_column() -> None:
    prefix = "https://example.com/"
    assert _avatar(prefix + "a" * (AVATAR_MAX_LENGTH - len(prefix)))
    assert "at most 250" in _refusal(prefix + "a" * (AVATAR_MAX_LENGTH - len(prefix) + 1))


@given(st.text(max_size=300))
def test_whatever_is_kept_is_an_https_url_of_visible_characters(raw: str) -> None:
    try:
        kept = _avatar(raw)
    except InvalidInput as refused:
        assert refused.field == "avatar"
        return
    if kept is not None:
        assert kept.lower().startswith("https://")
        assert len(kept) <= AVATAR_MAX_LENGTH
        assert kept.isprintable() and " " not in kept


@given(st.sampled_from("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"))
def test_no_bidi_control_is_kept_anywhere_in_a_url(control: str) -> None:
    _refusal(f"https://example.com/{control}a.png")


def _avatar_with(raw: str, schemes: frozenset[str]) -> str | None:
    return parse_registration(
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        password="long enough",
        role="",
        avatar=raw,
        policy=PasswordPolicy(),
        avatar_schemes=schemes,
    ).avatar


def test_a_configured_scheme_is_allowed_beside_https() -> None:
    schemes = frozenset({"https", "http"})
    assert _avatar_with("http://cdn.example.com/a.png", schemes) == "http://cdn.example.com/a.png"
    with pytest.raises(InvalidInput, match="https"):
        _avatar("http://cdn.example.com/a.png")


@pytest.mark.parametrize("scheme", ["javascript", "data", "vbscript", "file", "blob"])
def test_an_unsafe_scheme_never_passes_even_when_configured(scheme: str) -> None:
    with pytest.raises(InvalidInput):
        _avatar_with(f"{scheme}://example.com/x", frozenset({"https", scheme}))


@pytest.mark.parametrize(
    ("schemes", "error"),
    [
        (["https", "javascript"], "must not allow javascript"),
        (["DATA"], "must not allow data"),
        ([], "at least one"),
        (["ht tp"], "not a URL scheme"),
    ],
)
def test_the_avatar_schemes_setting_refuses_unsafe_and_malformed_schemes(
    schemes: list[str], error: str
) -> None:
    with pytest.raises(ValidationError, match=error):
        ProfileSettings(avatar_schemes=schemes)


def test_the_avatar_schemes_setting_is_lower_cased() -> None:
    assert ProfileSettings(avatar_schemes=["HTTPS", "Http"]).avatar_schemes == ["https", "http"]

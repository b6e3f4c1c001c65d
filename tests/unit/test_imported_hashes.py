"""Imported password hashes: bcrypt verified (as the Go service made it), then due an upgrade."""

from __future__ import annotations

import bcrypt
import pytest

from app.adapters.hash_schemes import StoredHashes
from app.domain.clients import Client
from app.domain.errors import InvalidInput
from tests.support.passwords import CheapPasswords

CLIENT = Client(address="192.0.2.9", user_agent="unit-test")
PASSWORD = "correct horse battery staple"


def go_hash(password: str, cost: int = 4) -> str:
    """As the Go service hashed: bcrypt of the trimmed password."""
    return bcrypt.hashpw(password.strip().encode(), bcrypt.gensalt(cost, b"2a")).decode()


@pytest.fixture
async def hasher():
    passwords = CheapPasswords()
    yield passwords
    passwords.close()


async def test_a_bcrypt_hash_of_cost_10_verifies_the_password_and_no_other(hasher):
    stored = go_hash(PASSWORD, cost=10)
    assert await hasher.verify(stored, PASSWORD, client=CLIENT)
    assert not await hasher.verify(stored, PASSWORD + "!", client=CLIENT)


@pytest.mark.parametrize("prefix", [b"2a", b"2b"])
async def test_every_bcrypt_prefix_is_verified_and_due_an_upgrade(hasher, prefix):
    stored = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4, prefix)).decode()
    assert await hasher.verify(stored, PASSWORD, client=CLIENT)
    assert hasher.needs_rehash(stored)


async def test_2y_hashes_of_php_are_verified(hasher):
    stored = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")
    assert await hasher.verify(stored, PASSWORD, client=CLIENT)


async def test_a_password_registered_with_surrounding_spaces_logs_in_as_typed(hasher):
    stored = go_hash(f"  {PASSWORD}\t")
    assert await hasher.verify(stored, f"  {PASSWORD}\t", client=CLIENT)
    assert await hasher.verify(stored, PASSWORD, client=CLIENT)
    assert not await hasher.verify(stored, f"{PASSWORD} x", client=CLIENT)


async def test_only_the_first_72_bytes_count_as_bcrypt_always_counted_them(hasher):
    long_password = "é" * 40  # 80 bytes
    stored = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(4)).decode()
    assert await hasher.verify(stored, long_password, client=CLIENT)


async def test_an_argon2_hash_of_the_current_parameters_is_not_due_an_upgrade(hasher):
    stored = await hasher.hash(PASSWORD, client=CLIENT)
    assert not hasher.needs_rehash(stored)


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        ("$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA", "scheme 'scrypt'"),
        ("$pbkdf2-sha256$29000$c2FsdA$aGFzaA", "scheme 'pbkdf2-sha256'"),
        ("5f4dcc3b5aa765d61d8327deb882cf99", "not an argon2 or bcrypt hash"),
        ("$2a$10$tooshort", "not a well-formed bcrypt hash"),
        ("$argon2id$v=19$m=65536$broken", "not a well-formed argon2 hash"),
    ],
    ids=["scrypt", "pbkdf2", "md5", "short-bcrypt", "broken-argon2"],
)
def test_hashes_the_service_cannot_verify_are_refused_naming_why(stored, reason):
    with pytest.raises(InvalidInput, match=reason):
        StoredHashes().check(stored)


async def test_hashes_the_service_can_verify_are_kept(hasher):
    StoredHashes().check(go_hash(PASSWORD))
    StoredHashes().check(await hasher.hash(PASSWORD, client=CLIENT))

"""The stored password hashes the service can verify: argon2 (its own) and bcrypt (imported).

Both arrive in their usual text forms: argon2 as a PHC string
(``$argon2id$v=19$m=…,t=…,p=…$salt$hash``), bcrypt in the modular crypt form
(``$2a$``, ``$2b$`` or ``$2y$``, a two-digit cost, 53 characters of salt and
hash). Anything else (another PHC scheme such as ``$scrypt$``, an unsalted
digest, plain text) cannot be verified here and is refused at import.
"""

from __future__ import annotations

import enum

import bcrypt
import regex
from argon2 import extract_parameters
from argon2.exceptions import InvalidHashError

from app.domain.errors import InvalidInput

_BCRYPT = regex.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_PHC_SCHEME = regex.compile(r"\$([a-z0-9-]{1,32})[$,]")
# bcrypt reads at most this many bytes of a password; the library refuses
# longer ones instead of ignoring the rest.
BCRYPT_MAX_PASSWORD_BYTES = 72
# What the Go service's strings.TrimSpace removes (Unicode White_Space); it
# trimmed every password before hashing it.
GO_WHITE_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


class HashScheme(enum.StrEnum):
    ARGON2 = "argon2"
    BCRYPT = "bcrypt"


def scheme_of(password_hash: str) -> HashScheme | None:
    """The scheme of a stored hash, by its form alone; None when it is none of ours."""
    if _BCRYPT.fullmatch(password_hash):
        return HashScheme.BCRYPT
    if password_hash.startswith("$argon2"):
        return HashScheme.ARGON2
    return None


class StoredHashes:
    """Satisfies ``HashSchemes``: which hashes an import may keep as they are."""

    def check(self, password_hash: str) -> None:
        """Accept a bcrypt hash or a well-formed argon2 PHC string; ``InvalidInput`` otherwise."""
        scheme = scheme_of(password_hash)
        if scheme is HashScheme.BCRYPT:
            return
        if scheme is HashScheme.ARGON2:
            try:
                extract_parameters(password_hash)
            except (InvalidHashError, ValueError) as err:
                raise InvalidInput("password_hash", "is not a well-formed argon2 hash") from err
            return
        if password_hash.startswith(("$2a$", "$2b$", "$2y$")):
            raise InvalidInput("password_hash", "is not a well-formed bcrypt hash")
        named = _PHC_SCHEME.match(password_hash)
        if named is not None:
            raise InvalidInput(
                "password_hash", f"uses the scheme {named.group(1)!r}: only argon2 and bcrypt"
            )
        raise InvalidInput("password_hash", "is not an argon2 or bcrypt hash")


def verify_bcrypt(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches a bcrypt hash, as typed or trimmed as the Go service trimmed.

    The Go service hashed the trimmed password but compared what was typed,
    so a password registered with surrounding spaces could never log in
    there; here it can. Only the first 72 bytes count, as bcrypt itself
    (and the Go service, which truncated longer passwords) always did.
    """
    encoded = password_hash.encode()
    candidates = dict.fromkeys((password, password.strip(GO_WHITE_SPACE)))
    return any(
        bcrypt.checkpw(candidate.encode()[:BCRYPT_MAX_PASSWORD_BYTES], encoded)
        for candidate in candidates
    )

"""SignedPageTokens: AIP-158 page tokens signed with itsdangerous.

A token is ``URLSafeTimedSerializer`` over ``[filter digest, created_at,
user id]``: the last user of the page it follows and a digest of the filter
it was made for. itsdangerous signs it (HMAC-SHA256 under a key derived, by
itsdangerous, from ours and a salt of our own) and stamps the time, read from
the service's clock so lifetimes are testable; ``loads`` checks both. The
token is opaque to clients but not secret: the cursor is a user they were
just shown. Nothing is stored.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any
from uuid import UUID

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from app.domain.errors import InvalidInput
from app.domain.listing import PageCursor, PageToken, UserFilter
from app.domain.ports import Clock

FIELD = "page_token"


class _ClockSigner(TimestampSigner):
    """itsdangerous's timestamp signer on the service's clock (``get_timestamp`` is its
    documented hook for the current time)."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock.now().timestamp())


def _filter_digest(user_filter: UserFilter) -> str:
    return hashlib.sha256(user_filter.key().encode()).hexdigest()[:32]


class SignedPageTokens:
    """Satisfies ``PageTokens``; ``key`` is ``LoginSecrets.page_token_key``."""

    def __init__(self, key: bytes, *, lifetime_seconds: float, clock: Clock) -> None:
        self._lifetime_seconds = round(lifetime_seconds)
        self._serializer = URLSafeTimedSerializer(
            key,
            salt="user-service page token",
            signer=_ClockSigner,
            signer_kwargs={"clock": clock, "digest_method": hashlib.sha256},
        )

    def issue(self, user_filter: UserFilter, cursor: PageCursor) -> str:
        payload = [_filter_digest(user_filter), cursor.created_at.isoformat(), str(cursor.user_id)]
        token: str = self._serializer.dumps(payload)
        return token

    def read(self, token: PageToken, user_filter: UserFilter) -> PageCursor:
        try:
            payload = self._serializer.loads(token, max_age=self._lifetime_seconds)
        except SignatureExpired as err:
            raise InvalidInput(FIELD, "has expired: start again from the first page") from err
        except BadData as err:
            raise InvalidInput(FIELD, "is not a page token of this service") from err
        match payload:
            case [str(digest), str(created_at), str(user_id)]:
                if not hmac.compare_digest(digest, _filter_digest(user_filter)):
                    raise InvalidInput(
                        FIELD, "was made for other filters: send the same filters with it"
                    )
                return PageCursor(datetime.fromisoformat(created_at), UUID(user_id))
        # Signed by us, so never reached unless the format changes between versions.
        raise InvalidInput(FIELD, "is not a page token of this service")

"""Password recovery's settings: the reset token's lifetime and the rates of requests
and token guesses."""

from __future__ import annotations

from pydantic import Field

from app.config.sections import Section


class RecoverySettings(Section):
    # A reset link dies this long after it was asked for; at most a day, as a
    # link left in a mailbox is a way into the account for whoever reads it.
    token_lifetime_seconds: float = Field(900.0, ge=60, le=86_400)
    # A reset request answers no sooner than this after it began, whatever the
    # address: the constant floor over which a known address's extra writes
    # do not show. Above the request's usual time, below a client's patience.
    request_floor_seconds: float = Field(0.05, ge=0, le=5)
    # RequestPasswordReset per client address, and per account (known or not,
    # so a refusal says nothing of the account), per minute (and as a burst).
    requests_per_address_per_minute: int = Field(10, ge=1, le=1_000_000)
    requests_per_account_per_minute: int = Field(2, ge=1, le=1_000_000)
    # ResetPassword (each a guess at a token) per client address per minute.
    guesses_per_address_per_minute: int = Field(30, ge=1, le=1_000_000)

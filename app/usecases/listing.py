"""ListingUseCase: an admin finds users, a page at a time (AIP-158)."""

from __future__ import annotations

from app.domain.listing import Page, PageToken, PageTokens, UserDirectory, UserFilter
from app.domain.users import Principal
from app.observability.tracing import traced
from app.usecases.factor_guard import FactorGuard


class ListingUseCase:
    """Who may list users, and how pages follow each other."""

    def __init__(self, directory: UserDirectory, tokens: PageTokens, guard: FactorGuard) -> None:
        self._directory = directory
        self._tokens = tokens
        self._guard = guard

    @traced
    async def list_users(
        self, caller: Principal, user_filter: UserFilter, page_size: int, token: PageToken | None
    ) -> Page:
        """A page of at most ``page_size`` users matching ``user_filter``, after ``token``'s.

        Only an active admin may list (``FactorGuard.admit``): a service caller
        reads the users it is told of, by id or email, but never walks the
        whole directory. The token is checked after the caller, so only an
        admin learns whether one is valid (``InvalidInput`` naming
        ``page_token`` otherwise, see ``PageTokens.read``). One row more than
        the page is read: its presence is what says another page follows.
        """
        await self._guard.admit(caller)
        after = None if token is None else self._tokens.read(token, user_filter)
        found = await self._directory.list_users(user_filter, after, page_size + 1)
        users = found[:page_size]
        if len(found) > page_size:
            return Page(users, self._tokens.issue(user_filter, users[-1].cursor))
        return Page(users, "")

"""The import's composition: its use case over the service's stores."""

from __future__ import annotations

from app.adapters.hash_schemes import StoredHashes
from app.adapters.postgres.users import UserPgRepository
from app.adapters.redis.imported_sessions import ImportedSessionRedis
from app.lifecycle import Resources
from app.usecases.importing import ImportUseCase


def build_import(resources: Resources) -> ImportUseCase:
    """Imports into ``resources``' PostgreSQL, and sessions into its Redis."""
    settings = resources.settings
    users = UserPgRepository(resources.pool)
    sessions = ImportedSessionRedis(
        resources.redis,
        key_prefix=settings.redis.key_prefix,
        ttl_seconds=settings.sessions.ttl_seconds,
        absolute_lifetime_seconds=settings.sessions.absolute_lifetime_seconds,
        cluster=settings.redis.cluster,
    )
    return ImportUseCase(
        users,
        StoredHashes(),
        users,
        sessions,
        avatar_schemes=frozenset(settings.profiles.avatar_schemes),
    )

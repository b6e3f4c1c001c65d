"""``python -m app migrate``: apply pending migrations (creating the database if asked).

The step a deployment runs before its replicas start (a Kubernetes init
container), so the serving processes can run with
``APP_POSTGRES__MIGRATE_ON_START=false`` and no DDL rights. Migrations run
under yoyo's lock: several at once wait for each other. Exits 0 when the
schema is current, 2 on a bad setting (a missing database that
``APP_POSTGRES__CREATE_DATABASE`` does not let it create, too), 1 when
PostgreSQL cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import structlog

from app.bootstrap import migrate
from app.config import ConfigError
from app.entrypoints.runner import BAD_SETTING, settings_with_logging

logger = structlog.get_logger(__name__)


def run(arguments: argparse.Namespace) -> int:
    settings = settings_with_logging("user-service-migrate")
    if settings is None:
        return BAD_SETTING
    try:
        asyncio.run(asyncio.wait_for(migrate(settings), timeout=120))
    except ConfigError as err:
        print(f"user-service-migrate: {err}", file=sys.stderr)
        return BAD_SETTING
    except (OSError, TimeoutError) as err:
        logger.error("cannot migrate: PostgreSQL does not answer", error=repr(err))
        return 1
    logger.info("schema is current")
    return 0

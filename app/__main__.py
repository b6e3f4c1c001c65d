"""``python -m app <command>``: serve, worker, relay, migrate, health, admin, import."""

from __future__ import annotations

import sys

from app.entrypoints.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m app <command>``: the operator's commands (see ``app/admin.py``)."""

from __future__ import annotations

import sys

from app.admin import main

if __name__ == "__main__":
    sys.exit(main())

"""Print the newest message the local mail sink kept (``make mail``).

    python scripts/local_mail.py latest                 # .local/mail
    python scripts/local_mail.py latest --directory DIR

Prints the sender, recipient, date and subject, then the plain-text part (a
message's link is there). With Docker the mail went to Mailpit instead: read
it at http://127.0.0.1:8025.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAIL = ROOT / ".local" / "mail"


def read(path: Path) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    return message


def newest(directory: Path) -> Path | None:
    """The last message to arrive: the sink's file names sort in order of arrival."""
    files = sorted(directory.glob("*.eml"))
    return files[-1] if files else None


def summary(path: Path) -> str:
    message = read(path)
    text = message.get_body(preferencelist=("plain",))
    headers = "\n".join(
        f"{name}: {message[name]}" for name in ("From", "To", "Date", "Subject") if name in message
    )
    body = text.get_content() if text is not None else "(no plain-text part)"
    return f"{path}\n{headers}\n\n{body}"


def main(arguments: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["latest"])
    parser.add_argument("--directory", type=Path, default=MAIL)
    parsed = parser.parse_args(arguments)
    found = newest(parsed.directory)
    if found is None:
        print(
            f"no message in {parsed.directory} yet (with Docker, mail goes to Mailpit: "
            "http://127.0.0.1:8025)"
        )
        return 1
    print(summary(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())

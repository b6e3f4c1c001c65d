"""Read the mail the local mail sink kept (``make mail``).

    python scripts/local_mail.py latest                 # the newest message, in .local/mail
    python scripts/local_mail.py token --wait 10        # the token of its link, once it has one
    python scripts/local_mail.py token --to ada@example.com --directory DIR

``latest`` prints the sender, recipient, date and subject, then the plain-text
part (a message's link is there). ``token`` prints only the ``token`` query
parameter of the newest message's link (of the newest to ``--to``, when
given), for a script to use. The courier sends asynchronously, so it polls
for up to ``--wait`` seconds: while the newest message has no link (a notice,
say), the one asked for has not arrived yet. The directory is
``$LOCAL_MAIL_DIR``, else ``.local/mail``. With Docker the mail went to
Mailpit instead: read it at http://127.0.0.1:8025.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from email import policy
from email.headerregistry import AddressHeader
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
MAIL = ROOT / ".local" / "mail"
MAILPIT = "with Docker, mail goes to Mailpit: http://127.0.0.1:8025"
# How often `token` looks again while it waits.
POLL_SECONDS = 0.1

_LINK = re.compile(r"https?://\S+")


def mail_directory() -> Path:
    """``$LOCAL_MAIL_DIR``, else the sink's own directory."""
    configured = os.environ.get("LOCAL_MAIL_DIR")
    return Path(configured) if configured else MAIL


def read(path: Path) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    return message


def is_to(message: EmailMessage, recipient: str) -> bool:
    header = message["To"]
    addresses = header.addresses if isinstance(header, AddressHeader) else ()
    return any(address.addr_spec.lower() == recipient.lower() for address in addresses)


def newest(directory: Path, recipient: str | None = None) -> Path | None:
    """The last message to arrive (to ``recipient``, when given): the sink's
    file names sort in order of arrival."""
    for path in sorted(directory.glob("*.eml"), reverse=True):
        if recipient is None or is_to(read(path), recipient):
            return path
    return None


def plain_text(message: EmailMessage) -> str | None:
    text = message.get_body(preferencelist=("plain",))
    return None if text is None else str(text.get_content())


def summary(path: Path) -> str:
    message = read(path)
    headers = "\n".join(
        f"{name}: {message[name]}" for name in ("From", "To", "Date", "Subject") if name in message
    )
    body = plain_text(message)
    return f"{path}\n{headers}\n\n{body if body is not None else '(no plain-text part)'}"


def link_token(path: Path) -> str | None:
    """The ``token`` query parameter of the first link in the message's plain text."""
    links: list[str] = _LINK.findall(plain_text(read(path)) or "")
    for link in links:
        tokens = parse_qs(urlsplit(link).query).get("token")
        if tokens:
            return tokens[0]
    return None


def wait_for_token(
    directory: Path,
    recipient: str | None,
    *,
    wait: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """The token of the newest message's link, polling until one has it or ``wait`` is over."""
    deadline = clock() + wait
    while True:
        found = newest(directory, recipient)
        token = None if found is None else link_token(found)
        if token is not None or clock() >= deadline:
            return token
        sleep(min(POLL_SECONDS, max(deadline - clock(), 0.0)))


def main(arguments: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["latest", "token"])
    parser.add_argument("--directory", type=Path, default=None)
    parser.add_argument("--to", default=None, help="only messages to this address (token)")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait (token)")
    parsed = parser.parse_args(arguments)
    directory: Path = parsed.directory or mail_directory()
    if parsed.command == "token":
        token = wait_for_token(directory, parsed.to, wait=parsed.wait)
        if token is None:
            to = f" to {parsed.to}" if parsed.to else ""
            print(
                f"no message with a token link{to} in {directory} within {parsed.wait:g} s "
                f"({MAILPIT})",
                file=sys.stderr,
            )
            return 1
        print(token)
        return 0
    found = newest(directory)
    if found is None:
        print(f"no message in {directory} yet ({MAILPIT})")
        return 1
    print(summary(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())

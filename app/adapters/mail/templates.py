"""Messages rendered from Jinja2 templates: a subject, a plain-text part, an HTML part.

Each :class:`~app.domain.mail.MessageKind` has three templates, named after it:
``<kind>.subject.txt``, ``<kind>.txt`` and ``<kind>.html``. The packaged ones
live beside this module; a directory (``mail.templates_dir``) may replace any
of them, file by file. HTML templates are autoescaped (a value with ``<`` or
``&`` shows as written, never as markup); text templates are not. Every
template sees the message's values, ``product_name``, ``sender`` and, for a
message with a token, ``link``; a value a template names but the message lacks
fails the rendering instead of leaving a blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    select_autoescape,
)

from app.domain.mail import Message, MessageKind

PACKAGED_TEMPLATES = Path(__file__).resolve().parent / "templates"

# The three parts of a message, by the suffix of their template.
PARTS = ("subject.txt", "txt", "html")


@dataclass(frozen=True, slots=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def link_with_token(base_url: str, token: str) -> str:
    """``base_url`` with ``token`` added as the query parameter ``token``."""
    parts = urlsplit(base_url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({"token": token})))


class MailTemplates:
    """Renders each kind of message; every template is loaded (and checked) when built."""

    def __init__(
        self,
        *,
        product_name: str,
        sender: str,
        link_base_url: str,
        templates_dir: Path | None = None,
    ) -> None:
        overrides = [] if templates_dir is None else [templates_dir]
        loaders = [FileSystemLoader(directory) for directory in [*overrides, PACKAGED_TEMPLATES]]
        environment = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        # Loading them all now makes a missing or broken override fail at start-up.
        self._templates: dict[tuple[MessageKind, str], Template] = {
            (kind, part): environment.get_template(f"{kind.value}.{part}")
            for kind in MessageKind
            for part in PARTS
        }
        self._common = {"product_name": product_name, "sender": sender}
        self._link_base_url = link_base_url

    def render(self, message: Message) -> RenderedMail:
        """The message's three parts; a Jinja2 error when a template cannot render it."""
        values: Mapping[str, str] = {**message.values, **self._common}
        if message.token is not None:
            values = {**values, "link": link_with_token(self._link_base_url, message.token)}

        def part(suffix: str) -> str:
            return self._templates[(message.kind, suffix)].render(values)

        # A subject is one line, whatever the template's line breaks.
        subject = " ".join(part("subject.txt").split())
        return RenderedMail(subject=subject, text=part("txt"), html=part("html"))

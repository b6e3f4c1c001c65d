"""MkDocs hooks (mkdocs.yml ``hooks:``): the pages made from the code, and links that
work both on the site and in the repository.

* ``reference/api.md`` is rendered at every build from the proto's comments
  (scripts/api_reference.py), so it is not committed and cannot fall behind.
  ``reference/configuration.md`` is committed as its source (each setting's
  meaning) and shown rebuilt from the settings model
  (scripts/config_reference.py), with types, defaults and bounds.
* The README, the front door, joins the site as ``readme.md``.
* Pages link as they must in the repository (``../README.md#two-commands``,
  ``docs/errors.md`` from the README). Each relative link is resolved from the
  page's place in the repository: a link into docs/ or to the README becomes the
  site's page; a link to any other file of the repository (a Dockerfile, the
  proto) is not a page of the site, so its text stays and the link goes.
"""

from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts import api_reference, config_reference

ROOT = Path(__file__).resolve().parents[1]

README_PAGE = "readme.md"
GENERATED = {"reference/api.md": api_reference.page}
# Pages whose source is committed but which the site shows rebuilt from the code.
REBUILT = {"reference/configuration.md": config_reference.page}
LINK = re.compile(r"(!?\[[^\]]*\])\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def on_files(files: Files, config: Any) -> Files:
    for uri, render in GENERATED.items():
        files.append(File.generated(config, uri, content=render()))
    readme = (ROOT / "README.md").read_text()
    files.append(File.generated(config, README_PAGE, content=readme))
    return files


def repository_path(page_uri: str) -> str:
    """Where a page of the site sits in the repository."""
    return "README.md" if page_uri == README_PAGE else f"docs/{page_uri}"


def site_target(page_uri: str, target: str) -> str | None:
    """The link ``target`` of the page, as the site must spell it; None: not a page."""
    path, _, anchor = target.partition("#")
    where = posixpath.dirname(repository_path(page_uri))
    resolved = posixpath.normpath(posixpath.join(where, path))
    if resolved == "README.md":
        resolved = f"docs/{README_PAGE}"
    if not resolved.startswith("docs/"):
        return None
    relative = posixpath.relpath(resolved.removeprefix("docs/"), posixpath.dirname(page_uri))
    return f"{relative}#{anchor}" if anchor else relative


def rewrite_links(markdown: str, page_uri: str) -> str:
    def rewrite(match: re.Match[str]) -> str:
        label, target = match[1], match[2]
        if target.startswith(("#", "http://", "https://", "mailto:")):
            return match[0]
        new = site_target(page_uri, target)
        return f"{label}({new})" if new is not None else label.removeprefix("!")[1:-1]

    # Code blocks are left as written: a `](` in them is no link.
    pieces = []
    last = 0
    for fence in FENCE.finditer(markdown):
        pieces += [LINK.sub(rewrite, markdown[last : fence.start()]), fence[0]]
        last = fence.end()
    pieces.append(LINK.sub(rewrite, markdown[last:]))
    return "".join(pieces)


def on_page_markdown(markdown: str, page: Page, config: Any, files: Files) -> str:
    if rebuild := REBUILT.get(page.file.src_uri):
        markdown = rebuild()
    return rewrite_links(markdown, page.file.src_uri)

"""What the code's own text refers to exists: no private name crosses a module, no stale path.

A comment or docstring naming a module that moved misleads the next reader
as surely as wrong code; a ``_private`` name imported from another module is
a public one in disguise, and breaks when its owner renames it.
"""

from __future__ import annotations

import ast
import importlib
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
SOURCES = sorted(path for path in APP.rglob("*.py") if "generated" not in path.parts)

PATH = re.compile(r"(?<![\w/.])((?:app|tests|scripts|bench)/[\w/]+\.py)\b")
MODULE = re.compile(r"(?<![\w.])(app(?:\.[A-Za-z_]\w*)+)")
PROJECT_FOLDERS = ("app", "tests", "scripts", "bench")
FILE_NAME = re.compile(r"(?<![\w/.])(\w+\.py)\b")


def prose(path: Path) -> Iterator[str]:
    """The comments and the docstrings (every string statement) of ``path``."""
    text = path.read_text()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            yield token.string
    for node in ast.walk(ast.parse(text)):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            yield node.value.value


def mentions(pattern: re.Pattern[str]) -> Iterator[tuple[str, str]]:
    """(source file, what it names) for each match of ``pattern`` in the app's prose."""
    for source in SOURCES:
        for text in prose(source):
            for named in pattern.findall(text):
                yield str(source.relative_to(ROOT)), named


def resolves(dotted: str) -> bool:
    """``dotted`` is a module, or a module followed by attributes of it."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_every_path_named_in_a_comment_or_docstring_exists():
    missing = {mention for mention in mentions(PATH) if not (ROOT / mention[1]).exists()}
    assert not missing


def test_every_module_named_in_a_comment_or_docstring_exists():
    missing = {mention for mention in mentions(MODULE) if not resolves(mention[1])}
    assert not missing


def test_every_file_name_in_a_comment_or_docstring_is_a_file_of_the_project():
    known = {path.name for folder in PROJECT_FOLDERS for path in (ROOT / folder).rglob("*.py")}
    missing = {mention for mention in mentions(FILE_NAME) if mention[1] not in known}
    assert not missing


def private_imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.endswith("__"):
                    yield f"{node.module}.{alias.name}"


def test_no_module_imports_a_private_name_of_another():
    offenders = {
        f"{source.relative_to(ROOT)} imports {name}"
        for source in SOURCES
        for name in private_imports(source)
    }
    assert not offenders

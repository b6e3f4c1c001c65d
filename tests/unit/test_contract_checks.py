"""buf.yaml's breaking rules catch a change an old client would notice.

Each test copies the contract (buf.yaml and proto/) into a temporary folder,
changes the copy, and runs ``buf breaking`` on it against the repository's own.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = Path(sys.executable).parent / "buf"
PROTO = "proto/user_service.proto"


def copy_of_the_contract(folder: Path) -> Path:
    shutil.copy(ROOT / "buf.yaml", folder / "buf.yaml")
    shutil.copytree(ROOT / "proto", folder / "proto")
    return folder / PROTO


def buf_breaking(workspace: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUF), "breaking", "--against", str(ROOT)],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    )


def edit(proto: Path, old: str, new: str) -> None:
    text = proto.read_text()
    assert text.count(old) == 1, f"{old!r} is not in the contract exactly once"
    proto.write_text(text.replace(old, new))


def test_an_unchanged_copy_passes(tmp_path):
    copy_of_the_contract(tmp_path)
    result = buf_breaking(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        # A renumbered field: old clients' bytes land in the wrong field.
        (
            "  // Unused.\n  string session = 1;",
            "  // Unused.\n  string session = 11;",
            '"1" with name "session"',
        ),
        # A renamed field: the same number, but JSON clients send the old name.
        (
            "  string first_name = 2;\n  // 1 to 64 characters, as first_name.",
            "  string given_name = 2;\n  // 1 to 64 characters, as first_name.",
            "first_name",
        ),
        # A removed RPC: old clients call a method that no longer exists.
        ("  rpc FindByID(FindByIDRequest) returns (FindByIDResponse);\n", "", "FindByID"),
    ],
    ids=["renumbered field", "renamed field", "removed rpc"],
)
def test_a_breaking_change_is_caught(tmp_path, old, new, complaint):
    proto = copy_of_the_contract(tmp_path)
    edit(proto, old, new)
    result = buf_breaking(tmp_path)
    assert result.returncode != 0
    assert complaint in result.stdout


def test_an_added_field_with_a_new_number_passes(tmp_path):
    proto = copy_of_the_contract(tmp_path)
    edit(
        proto,
        "  // Unused.\n  string session = 1;\n",
        "  // Unused.\n  string session = 1;\n  // Added.\n  string added = 2;\n",
    )
    result = buf_breaking(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

"""Run ``buf breaking`` on proto/ against the contracts it must keep.

Two baselines, both read from git history (no network, no tag to push):

* the Go service's contract: the commit that first added proto/user_service.proto;
* the last landed contract: on a branch, the point where it left ``main`` (so the
  whole branch is checked, not only its last commit); on ``main`` itself, as in CI's
  clean clone where ``main`` is the only branch, the first parent of HEAD (for a
  merge, the ``main`` it was merged into).

``--against REF`` checks against one git ref instead. The rules are buf.yaml's.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_FILE = "proto/user_service.proto"
BUF = Path(sys.executable).parent / "buf"
GIT = shutil.which("git") or "git"


def _git(*args: str) -> str:
    result = subprocess.run([GIT, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def go_contract_commit() -> str:
    """The commit that first added the proto file: the contract taken over from Go."""
    added = _git("log", "--diff-filter=A", "--format=%H", "--", PROTO_FILE).splitlines()
    return added[-1] if added else ""


def landed_contract_commit() -> str:
    """Where this branch left main; on main itself, HEAD's first parent."""
    head = _git("rev-parse", "HEAD")
    for main in ("main", "origin/main"):
        base = _git("merge-base", "HEAD", main)
        if base and base != head:
            return base
    return _git("rev-parse", "--verify", "--quiet", "HEAD~1")


def breaking(commit: str) -> int:
    """buf breaking of the working tree's proto/ against proto/ at ``commit``."""
    against = f".git#ref={commit},subdir=proto"
    print(f"buf breaking against {commit[:12]}", flush=True)
    return subprocess.run([str(BUF), "breaking", "--against", against], cwd=ROOT).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="a git ref to compare with instead")
    args = parser.parse_args()
    if args.against:
        commits = [_git("rev-parse", "--verify", "--quiet", args.against)]
    else:
        commits = [go_contract_commit(), landed_contract_commit()]
    if not all(commits):
        print(
            "buf breaking needs the git history (a full clone): the baseline commits are missing",
            file=sys.stderr,
        )
        return 2
    failures = [commit for commit in dict.fromkeys(commits) if breaking(commit) != 0]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

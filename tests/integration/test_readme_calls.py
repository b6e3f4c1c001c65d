"""The README's calls, run as written against a running service: the first screen's
``curl`` on the HTTP port, then the grpcurl taste on the gRPC port, in one shell."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.client import unique_email
from tests.support.pages import bash_block_under, run_strictly

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


async def test_the_readmes_curl_call_and_grpcurl_taste_run_as_written(application):
    http_email, grpc_email = unique_email("readme-http"), unique_email("readme-grpc")
    script = bash_block_under(README, "Then, in a second terminal").replace(
        "localhost:8080", f"127.0.0.1:{application.http_port}"
    ).replace("margaret@example.com", http_email) + bash_block_under(
        README, "## A taste of gRPC"
    ).replace("localhost:5000", f"127.0.0.1:{application.port}").replace(
        "ada@example.com", grpc_email
    )
    result = await run_strictly(script)
    assert result.returncode == 0, result.stderr
    output = result.stdout
    assert f'"email": "{http_email}"' in output and '"firstName": "Margaret"' in output
    assert "userService.UserService.Register" in output  # the reflection listing
    assert output.count(f'"email": "{grpc_email}"') == 2  # Register, then GetMe
    assert re.search(r"\{\s*\}\s*$", output)  # Logout: `{ }`, nothing to say but success

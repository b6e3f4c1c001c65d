"""docs/http.md's curl calls, run as written against the service's HTTP port."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.client import unique_email
from tests.support.pages import bash_block_under, run_strictly

ROOT = Path(__file__).resolve().parents[2]
HTTP_PAGE = ROOT / "docs" / "http.md"


def curl_block() -> str:
    return bash_block_under(HTTP_PAGE, "## Register, log in, read yourself")


async def test_the_pages_curl_calls_register_log_in_read_and_are_refused_after_logout(
    application,
):
    email = unique_email("curl")
    script = curl_block().replace("localhost:8080", f"127.0.0.1:{application.http_port}")
    assert script.count("curl -s") == 5
    result = await run_strictly(script.replace("margaret@example.com", email))
    assert result.returncode == 0, result.stderr
    output = result.stdout
    assert f'"email": "{email}"' in output and '"firstName": "Margaret"' in output
    assert "sessionId" not in output  # Login's answer went into $SESSION
    me = output.index('"role": "user"', output.index(f'"email": "{email}"') + 1)
    assert "{}" in output[me:]  # Logout answers an empty message
    assert "HTTP/1.1 401 Unauthorized" in output
    # The error the page shows is the one the service sends, byte for byte.
    [shown] = re.findall(r'^\{"code": "unauthenticated".*$', HTTP_PAGE.read_text(), re.MULTILINE)
    assert shown in output.splitlines()

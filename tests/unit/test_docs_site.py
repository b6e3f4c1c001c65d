"""The docs site: its generated references agree with the code, and it builds strictly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from app.grpc.generated import user_service_pb2
from scripts import api_reference, config_reference, docs_hooks
from scripts.settings_table import default_text, every_setting

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).parent / "mkdocs"
CONFIG_ROW = re.compile(r"^\| `(APP_[A-Z0-9_]+)` \| `(.*?)` \| `(.*?)` \| (.*?) \| (.*) \|$")


def configuration_rows() -> dict[str, tuple[str, str, str, str]]:
    """Variable → (type, default, bounds, meaning), as the page shows them."""
    rows = {}
    for line in config_reference.page().splitlines():
        if match := CONFIG_ROW.match(line):
            rows[match[1]] = (match[2], match[3], match[4], match[5])
    return rows


def test_the_configuration_page_lists_every_setting_with_its_default_and_a_meaning():
    rows = configuration_rows()
    expected = {s.variable: default_text(s.default).replace("|", "\\|") for s in every_setting()}
    assert {variable: row[1] for variable, row in rows.items()} == expected
    assert not [variable for variable, row in rows.items() if not row[3].strip()]


def test_the_configuration_page_shows_each_settings_bounds():
    rows = configuration_rows()
    for setting in every_setting():
        limits = [
            getattr(c, name, None)
            for c in setting.field.metadata
            for name in ("ge", "gt", "le", "lt")
        ]
        for limit in (limit for limit in limits if limit is not None):
            assert str(limit) in rows[setting.variable][2], setting.variable


def test_the_api_page_lists_every_rpc_with_its_request_and_response():
    page = api_reference.page()
    service = user_service_pb2.DESCRIPTOR.services_by_name["UserService"]
    for method in service.methods:
        request, response = method.input_type.name, method.output_type.name
        exchange = f"[{request}](#{request.lower()}) → [{response}](#{response.lower()})"
        assert f"| `{method.name}` | {exchange} |" in page


def test_the_api_page_lists_every_field_with_its_number_and_comment():
    page = api_reference.page()
    for message in user_service_pb2.DESCRIPTOR.message_types_by_name.values():
        section = page.split(f"\n### {message.name}\n", 1)[1].split("\n### ", 1)[0]
        for field in message.fields:
            assert f"| `{field.name}` | {field.number} |" in section, f"{message.name}.{field.name}"
    # A field's comment in the proto is its meaning on the page.
    assert "the password was right but a second factor is needed" in page


def test_links_resolve_from_the_pages_place_in_the_repository():
    assert docs_hooks.site_target("events.md", "../README.md#soak") == "readme.md#soak"
    assert (
        docs_hooks.site_target("adr/index.md", "../../README.md#decisions")
        == "../readme.md#decisions"
    )
    assert docs_hooks.site_target("readme.md", "docs/errors.md") == "errors.md"
    assert docs_hooks.site_target("readme.md", "Dockerfile") is None
    assert docs_hooks.site_target("adr/0002-x.md", "../leaving.md") == "../leaving.md"


def test_a_link_to_a_file_outside_the_site_keeps_its_text_and_code_blocks_stay_as_written():
    markdown = "See [the image](Dockerfile) and [errors](docs/errors.md).\n```\n[a](b)\n```\n"
    rewritten = docs_hooks.rewrite_links(markdown, "readme.md")
    assert rewritten == "See the image and [errors](errors.md).\n```\n[a](b)\n```\n"


def build(site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_site_builds_strictly_with_the_generated_pages(tmp_path):
    result = build(tmp_path)
    assert result.returncode == 0, result.stderr
    configuration = (tmp_path / "reference" / "configuration" / "index.html").read_text()
    assert "APP_POSTGRES__DSN" in configuration
    assert "FindByEmailRequest" in (tmp_path / "reference" / "api" / "index.html").read_text()

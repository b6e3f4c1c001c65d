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


METHOD_ROW = re.compile(r"^\| `(\w+)` \| \[\w+\]\(#\w+\) → \[\w+\]\(#\w+\) \| (.*) \|$")
FIELD_ROW = re.compile(r"^\| `(\w+)` \| (\d+) \| .*? \| (.*) \|$")


def test_every_rpc_message_and_field_of_the_contract_has_its_comment_on_the_api_page():
    page = api_reference.page().splitlines()
    methods = {m[1]: m[2] for line in page if (m := METHOD_ROW.match(line))}
    service = user_service_pb2.DESCRIPTOR.services_by_name["UserService"]
    assert set(methods) == set(service.methods_by_name)
    assert not [name for name, meaning in methods.items() if not meaning.strip()]
    uncommented = [line for line in page if FIELD_ROW.match(line) and line.endswith("|  |")]
    assert not uncommented
    headings = [i for i, line in enumerate(page) if line.startswith("### ")]
    # Each message's heading is followed by a blank line and its comment.
    assert not [page[i] for i in headings if page[i + 2].startswith(("|", "No fields"))]


def test_the_api_page_shows_enums_oneofs_and_nested_messages_with_their_comments(tmp_path):
    (tmp_path / "example.proto").write_text(
        """syntax = "proto3";
package example;
// A thing.
message Thing {
  // How it is.
  enum State {
    // Not said.
    STATE_UNSPECIFIED = 0;
    // Ready to use.
    STATE_READY = 1;
  }
  // A part of a thing.
  message Part {
    // The part's name.
    string name = 1;
  }
  // Where it is: one of two.
  oneof place {
    // On a shelf.
    string shelf = 1;
    // In a box.
    string box = 2;
  }
  // Its state.
  State state = 3;
  // Its parts.
  repeated Part parts = 4;
}
"""
    )
    page = api_reference.page(api_reference.contract_file(tmp_path, "example.proto"))
    assert "| `STATE_READY` | 1 | Ready to use. |" in page
    assert "### Thing.State" in page and "How it is." in page
    assert "| `state` | 3 | [Thing.State](#thingstate) | Its state. |" in page
    assert "| `parts` | 4 | repeated [Thing.Part](#thingpart) | Its parts. |" in page
    assert "| `name` | 1 | `string` | The part's name. |" in page
    assert "At most one of `shelf`, `box` (`place`). Where it is: one of two." in page


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
    # The site shows the page rebuilt from the model: types and bounds beside the source's text.
    assert "SecretStr" in configuration and "≤ 65535" in configuration
    assert "FindByEmailRequest" in (tmp_path / "reference" / "api" / "index.html").read_text()

"""Every kind of message has its three templates and renders from its sample values, escaped."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import TemplateError

from app.adapters.mail.templates import PACKAGED_TEMPLATES, PARTS, MailTemplates, link_with_token
from app.domain.mail import MessageKind
from tests.support.mail import NOTICE_KINDS, SAMPLE_VALUES, sample_message


def templates(directory: Path | None = None) -> MailTemplates:
    return MailTemplates(
        product_name="Acme & Co",
        sender="accounts@example.org",
        link_base_url="https://acme.example/confirm",
        templates_dir=directory,
    )


def test_every_kind_has_a_subject_a_text_and_an_html_template_and_sample_values():
    for kind in MessageKind:
        for part in PARTS:
            assert (PACKAGED_TEMPLATES / f"{kind.value}.{part}").is_file(), (kind, part)
        assert kind in SAMPLE_VALUES


@pytest.mark.parametrize("kind", sorted(set(MessageKind) - NOTICE_KINDS))
def test_every_kind_renders_its_values_and_link_escaped_in_html_only(kind):
    rendered = templates().render(sample_message(kind, token="a&b"))
    link = "https://acme.example/confirm?token=a%26b"
    assert "\n" not in rendered.subject and "Acme & Co" in rendered.subject
    assert "Ann <b>&</b> Bob" in rendered.text
    assert link in rendered.text
    assert "Ann &lt;b&gt;&amp;&lt;/b&gt; Bob" in rendered.html
    assert "Acme &amp; Co" in rendered.html
    assert "<b>" not in rendered.html
    assert f'href="{link}"' in rendered.html


@pytest.mark.parametrize("kind", sorted(NOTICE_KINDS))
def test_a_notice_renders_its_values_escaped_in_html_only_and_carries_no_link(kind):
    rendered = templates().render(sample_message(kind, token=None))
    assert "\n" not in rendered.subject and "Acme & Co" in rendered.subject
    assert "Ann <b>&</b> Bob" in rendered.text
    assert "Ann &lt;b&gt;&amp;&lt;/b&gt; Bob" in rendered.html
    assert "<b>" not in rendered.html
    assert "token=" not in rendered.text + rendered.html


def test_a_value_a_template_needs_but_the_message_lacks_fails_the_rendering():
    with pytest.raises(TemplateError):
        templates().render(sample_message(values={}))


def test_a_templates_directory_replaces_the_packaged_templates_file_by_file(tmp_path):
    (tmp_path / "password_reset.txt").write_text("Hi {{ first_name }}: {{ link }}\n")
    rendered = templates(tmp_path).render(sample_message(token="xyz"))
    assert rendered.text == "Hi Ann <b>&</b> Bob: https://acme.example/confirm?token=xyz\n"
    assert "Reset your password" in rendered.html  # still the packaged one


def test_a_broken_override_fails_when_the_templates_are_built(tmp_path):
    (tmp_path / "email_verification.html").write_text("{% if %}")
    with pytest.raises(TemplateError):
        templates(tmp_path)


def test_a_link_keeps_the_base_urls_own_query():
    assert (
        link_with_token("https://acme.example/r?lang=en", "t/+")
        == "https://acme.example/r?lang=en&token=t%2F%2B"
    )

"""`make local`'s mail sink without Docker: aiosmtpd keeping each message as a ``.eml`` file.

The sink runs as `make local` runs it (its own process, a pid file) on a spare
port, into a directory the test makes; `make mail`'s reader prints the newest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from pydantic import SecretStr

from scripts import local_mail, mail_sink
from scripts.stack_addresses import Address, answers
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def message(
    subject: str, text: str, html: str | None = None, to: str = "ann@example.com"
) -> EmailMessage:
    made = EmailMessage()
    made["From"] = "User Service <no-reply@localhost>"
    made["To"] = to
    made["Subject"] = subject
    made.set_content(text)
    if html is not None:
        made.add_alternative(html, subtype="html")
    return made


def wait_for_files(directory: Path, count: int) -> list[Path]:
    for _ in range(100):
        files = sorted(directory.glob("*.eml"))
        if len(files) >= count:
            return files
        time.sleep(0.05)
    raise AssertionError(f"{count} .eml files never appeared in {directory}")


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[Address, Path, Path]]:
    """A running sink: its address, its mail directory, its state directory (pid, log)."""
    address = Address("127.0.0.1", free_port())
    mail, state = tmp_path / "mail", tmp_path / "state"
    assert mail_sink.start_native_mail_sink(address, mail, state)
    try:
        yield address, mail, state
    finally:
        mail_sink.stop_native_mail_sink(state)


async def test_each_message_becomes_one_eml_file_named_in_order_of_arrival(
    sink: tuple[Address, Path, Path],
) -> None:
    address, mail, _ = sink
    for number in range(1, 4):
        await aiosmtplib.send(
            message(f"message {number}", f"body {number}"),
            hostname=address.host,
            port=address.port,
        )

    files = wait_for_files(mail, 3)

    assert len(files) == 3
    assert [local_mail.read(path)["Subject"] for path in files] == [
        "message 1",
        "message 2",
        "message 3",
    ]
    newest = local_mail.read(files[-1])
    assert newest["To"] == "ann@example.com"
    assert newest["Delivered-To"] == "ann@example.com"
    body = newest.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().strip() == "body 3"
    assert not list(mail.glob(".*")), "no partial file is left behind"


async def test_stopping_by_the_pid_file_ends_the_sink(tmp_path: Path) -> None:
    address = Address("127.0.0.1", free_port())
    state = tmp_path / "state"
    assert mail_sink.start_native_mail_sink(address, tmp_path / "mail", state)
    assert (state / "mail-sink.pid").exists()

    mail_sink.stop_native_mail_sink(state)

    for _ in range(100):
        if not answers(address):
            break
        time.sleep(0.05)
    assert not answers(address)
    assert not (state / "mail-sink.pid").exists()


def test_numbering_goes_on_after_the_files_already_there(tmp_path: Path) -> None:
    (tmp_path / "000041-20250101T000000.000000Z.eml").write_bytes(b"Subject: old\r\n\r\n")

    handler = mail_sink.EmlDirectory(tmp_path)

    assert [handler.next_name()[:7] for _ in range(2)] == ["000042-", "000043-"]


def test_latest_prints_the_newest_messages_subject_recipient_and_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for number, name in enumerate(["000001-a.eml", "000002-b.eml"], start=1):
        content = message(f"message {number}", f"reset at https://x/?token={number}", "<p>html</p>")
        (tmp_path / name).write_bytes(content.as_bytes())

    assert local_mail.main(["latest", "--directory", str(tmp_path)]) == 0

    out = capsys.readouterr().out
    assert "Subject: message 2" in out
    assert "To: ann@example.com" in out
    assert "reset at https://x/?token=2" in out
    assert "<p>" not in out
    assert "Date:" not in out, "a header the message lacks is left out"


def test_latest_without_mail_says_where_to_look(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert local_mail.main(["latest", "--directory", str(tmp_path / "none")]) == 1

    assert ":8025" in capsys.readouterr().out


def keep(directory: Path, name: str, text: str, to: str = "ann@example.com") -> None:
    """A message as the sink keeps it, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(message("a subject", text, "<p>html</p>", to).as_bytes())


RESET = "Choose a new password here:\n\nhttp://localhost:8080/account?token={}\n\n-- User Service"


def test_token_prints_the_token_of_the_newest_messages_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep(tmp_path, "000001-a.eml", RESET.format("older-token"))
    keep(tmp_path, "000002-b.eml", RESET.format("Zx_9-newest"))

    assert local_mail.main(["token", "--directory", str(tmp_path)]) == 0

    assert capsys.readouterr().out == "Zx_9-newest\n"


def test_token_takes_the_newest_message_to_the_address_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep(tmp_path, "000001-a.eml", RESET.format("anns"))
    keep(tmp_path, "000002-b.eml", RESET.format("bobs"), to="Bob <bob@example.com>")

    assert local_mail.main(["token", "--to", "ANN@example.com", "--directory", str(tmp_path)]) == 0

    assert capsys.readouterr().out == "anns\n"


def test_token_reads_the_directory_from_local_mail_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    keep(tmp_path / "elsewhere", "000001-a.eml", RESET.format("from-the-variable"))
    monkeypatch.setenv("LOCAL_MAIL_DIR", str(tmp_path / "elsewhere"))

    assert local_mail.main(["token"]) == 0

    assert capsys.readouterr().out == "from-the-variable\n"


def test_token_waits_for_a_newer_message_when_the_newest_has_no_link(tmp_path: Path) -> None:
    # A notice (no link) is newest until the reset message the courier sends arrives.
    keep(tmp_path, "000001-a.eml", RESET.format("stale"))
    keep(tmp_path, "000002-b.eml", "Your password changed.")
    waits: list[float] = []

    def arrive_on_the_second_poll(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            keep(tmp_path, "000003-c.eml", RESET.format("fresh"))

    found = local_mail.wait_for_token(
        tmp_path, None, wait=10.0, sleep=arrive_on_the_second_poll, clock=lambda: 0.0
    )

    assert found == "fresh"
    assert len(waits) == 2


def test_token_stops_polling_once_the_wait_is_over(tmp_path: Path) -> None:
    keep(tmp_path, "000001-a.eml", "Your password changed.")
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    found = local_mail.wait_for_token(tmp_path, None, wait=2.0, sleep=sleep, clock=lambda: now[0])

    assert found is None
    assert 2.0 <= now[0] < 2.5


def test_token_without_a_message_in_time_exits_1_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep(tmp_path, "000001-a.eml", "Your password changed.")

    assert local_mail.main(["token", "--wait", "0", "--directory", str(tmp_path)]) == 1

    printed = capsys.readouterr()
    assert printed.out == "", "nothing a script would take for a token"
    assert f"no message with a token link in {tmp_path} within 0 s" in printed.err
    assert ":8025" in printed.err


@pytest.mark.parametrize(
    ("url", "local"),
    [
        (None, False),
        ("smtp://127.0.0.1:1025", True),
        ("smtp://localhost:1025", True),
        ("smtp://127.0.0.1:2525", False),
        ("smtps://127.0.0.1:1025", False),
        ("smtp://mail.example.com:1025", False),
    ],
)
def test_only_the_local_sinks_address_has_ensure_start_it(url: str | None, local: bool) -> None:
    assert mail_sink.names_the_local_sink(None if url is None else SecretStr(url)) is local


def test_make_run_points_the_service_at_the_local_sink() -> None:
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^LOCAL_SMTP_URL := (\S+)$", makefile, re.MULTILINE)
    assert match is not None
    assert mail_sink.names_the_local_sink(SecretStr(match[1]))
    exported = re.search(
        r"^([a-z ]+): export APP_MAIL__SMTP_URL \?= \$\(LOCAL_SMTP_URL\)$", makefile, re.MULTILINE
    )
    assert exported is not None
    assert {"run", "courier"} <= set(exported[1].split())

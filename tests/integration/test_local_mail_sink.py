"""The courier sends to `make local`'s native mail sink, and `make mail` shows the link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.domain.mail import MessageKind
from scripts import local_mail
from scripts.stack_addresses import Address
from tests.support.client import eventually
from tests.support.couriers import couriering, forget_queued_mail, stored_message
from tests.support.mail import native_mail_sink, queue_message, sample_message


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[Address, Path]]:
    with native_mail_sink(tmp_path) as sink:
        yield sink


async def test_a_reset_message_lands_in_the_sink_and_make_mail_prints_its_link(
    application, sink, capsys
):
    pool = application.pool
    await forget_queued_mail(pool)
    address, mail = sink
    message = await queue_message(pool, sample_message(MessageKind.PASSWORD_RESET, token="t0ken"))

    async with couriering(pool, smtp_url=f"smtp://{address}"):

        async def sent() -> bool:
            return (await stored_message(pool, message.id))["sent_at"] is not None

        await eventually(sent)

    assert local_mail.main(["latest", "--directory", str(mail)]) == 0
    printed = capsys.readouterr().out
    assert f"To: {message.recipient}" in printed
    assert "token=t0ken" in printed

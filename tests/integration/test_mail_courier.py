"""The courier against a real SMTP server (aiosmtpd): delivery, TLS, login, retries, no server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from app.adapters.postgres.mail_outbox import insert_message
from app.domain.mail import MessageKind
from tests.support.client import eventually
from tests.support.couriers import (
    courier_for,
    couriering,
    forget_queued_mail,
    stored_message,
)
from tests.support.logs import captured_logs
from tests.support.mail import (
    Certificates,
    Mailbox,
    make_certificates,
    queue_message,
    sample_message,
    smtp_server,
)
from tests.support.ports import free_port

SENDER: dict[str, Any] = {"from": "accounts@example.org", "product_name": "Acme Accounts"}
LINK_BASE = "https://acme.example/recover?lang=en"


@pytest.fixture(autouse=True)
async def empty_outbox(application):
    await forget_queued_mail(application.pool)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Certificates:
    return make_certificates(Path(tmp_path_factory.mktemp("smtp")))


class _ChangeFailed(Exception):
    pass


async def test_a_message_is_queued_only_if_the_transaction_that_wrote_it_commits(application):
    pool = application.pool
    kept, dropped = sample_message(), sample_message()
    async with pool.acquire() as connection, connection.transaction():
        await insert_message(connection, kept)
    with pytest.raises(_ChangeFailed):
        async with pool.acquire() as connection, connection.transaction():
            await insert_message(connection, dropped)
            raise _ChangeFailed
    assert (await stored_message(pool, kept.id))["token"] == "sample-token"
    assert (
        await pool.fetchval("SELECT count(*) FROM mail_outbox WHERE message_id = $1", dropped.id)
        == 0
    )


async def _sent(pool, message_id) -> bool:
    return (await stored_message(pool, message_id))["sent_at"] is not None


async def test_a_queued_message_arrives_with_its_headers_both_parts_and_the_link(application):
    pool = application.pool
    message = await queue_message(pool, sample_message(MessageKind.PASSWORD_RESET, token="t0k/en+"))
    with smtp_server() as server:
        async with couriering(pool, smtp_url=server.url(), link_base_url=LINK_BASE, **SENDER):
            await eventually(lambda: _sent(pool, message.id))
    [mail] = server.mailbox.received
    assert mail["From"] == "Acme Accounts <accounts@example.org>"
    assert mail["To"] == message.recipient
    assert mail["Subject"] == "Reset your Acme Accounts password"
    assert mail["Message-ID"] == f"<{message.id}@example.org>"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    link = "https://acme.example/recover?lang=en&token=t0k%2Fen%2B"
    assert link in text.get_content()
    assert "Ann <b>&</b> Bob" in text.get_content()
    assert f'href="{link.replace("&", "&amp;")}"' in html.get_content()
    assert "Ann &lt;b&gt;&amp;&lt;/b&gt; Bob" in html.get_content()
    stored = await stored_message(pool, message.id)
    assert stored["token"] is None
    assert stored["attempts"] == 1


# aiosmtpd warns of AUTH without STARTTLS on its implicit-TLS listener, which is all TLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_mail_goes_over_starttls_or_implicit_tls_with_a_login(
    application, certificates, security
):
    pool = application.pool
    message = await queue_message(pool)
    scheme = "smtp+starttls" if security == "starttls" else "smtps"
    with smtp_server(security=security, certificates=certificates, login=True) as server:
        async with couriering(
            pool, smtp_url=server.url(scheme, login=True), ca_file=str(certificates.ca_file)
        ):
            await eventually(lambda: _sent(pool, message.id))
    assert server.mailbox.message_ids() == [f"<{message.id}@localhost>"]


async def test_a_server_that_does_not_answer_is_retried_then_the_message_is_abandoned(application):
    pool = application.pool
    message = await queue_message(pool)

    async def abandoned() -> bool:
        return (await stored_message(pool, message.id))["abandoned_at"] is not None

    with captured_logs() as logs:
        async with couriering(pool, smtp_url=f"smtp://127.0.0.1:{free_port()}", max_attempts=3):
            await eventually(abandoned)
    stored = await stored_message(pool, message.id)
    assert stored["attempts"] == 3
    assert stored["sent_at"] is None
    assert stored["token"] is None
    assert "SMTPConnectError" in stored["last_error"]
    retries = logs.events("mail not sent")
    assert [line["attempts"] for line in retries] == [1, 2]
    [gave_up] = logs.events("mail abandoned")
    assert gave_up["reason"] == stored["last_error"]
    assert "sample-token" not in logs.text


async def test_a_refused_message_is_abandoned_at_once_with_the_servers_reply(application):
    pool = application.pool
    message = await queue_message(pool)
    with smtp_server(Mailbox(reply="554 5.7.1 content refused")) as server:
        async with couriering(pool, smtp_url=server.url()):
            await eventually(lambda: _field_is_set(pool, message.id, "abandoned_at"))
    stored = await stored_message(pool, message.id)
    assert stored["attempts"] == 1
    assert stored["last_error"] == "SMTPDataError: 554 5.7.1 content refused"


async def _field_is_set(pool, message_id, name: str) -> bool:
    return (await stored_message(pool, message_id))[name] is not None


NO_SERVER = "mail is not sent: no SMTP server is set (APP_MAIL__SMTP_URL); messages stay queued"


async def test_without_an_smtp_url_messages_stay_queued_and_one_warning_says_so(application):
    pool = application.pool
    message = await queue_message(pool)
    with captured_logs() as logs:
        courier = courier_for(pool, smtp_url=None)
        running = asyncio.create_task(courier.run())

        async def warned() -> bool:
            return bool(logs.events(NO_SERVER))

        await eventually(warned)
        await asyncio.sleep(0.2)  # ten poll intervals: no further warning, nothing sent
        courier.stop()
        await asyncio.wait_for(running, 5)
    lines = [json.loads(line) for line in logs.text.splitlines()]
    assert [line["event"] for line in lines if line["level"] == "warning"] == [NO_SERVER]
    stored = await stored_message(pool, message.id)
    assert (stored["attempts"], stored["sent_at"], stored["token"]) == (0, None, "sample-token")


async def test_two_couriers_send_each_message_once(application):
    pool = application.pool
    messages = [await queue_message(pool) for _ in range(30)]

    async def all_sent() -> bool:
        return all([await _sent(pool, message.id) for message in messages])

    with smtp_server(Mailbox(delay=0.01)) as server:
        async with couriering(pool, couriers=2, smtp_url=server.url(), batch_size=5):
            await eventually(all_sent)
    ids = server.mailbox.message_ids()
    assert sorted(ids) == sorted(f"<{message.id}@localhost>" for message in messages)

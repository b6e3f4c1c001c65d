"""The courier as `make courier` runs it: it starts and stops cleanly, and a kill loses nothing."""

from __future__ import annotations

import asyncio
import json
import signal

from tests.support.client import eventually
from tests.support.couriers import couriering, forget_queued_mail
from tests.support.mail import Mailbox, queue_message, smtp_server
from tests.support.processes import process_environment, read_until, start_process

MESSAGES = 12


async def _sent_count(pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM mail_outbox WHERE sent_at IS NOT NULL")
    return count


async def test_a_courier_killed_mid_batch_leaves_what_it_did_not_send_to_the_next(
    application, settings, tmp_path
):
    pool = application.pool
    await forget_queued_mail(pool)
    messages = [await queue_message(pool) for _ in range(MESSAGES)]
    # Each message takes the server a while before its content is sent, so the
    # kill lands mid-batch, most likely while a message is in flight.
    with smtp_server(Mailbox(delay=0.2)) as server:
        environment = process_environment(
            settings,
            APP_MAIL__SMTP_URL=server.url(),
            APP_MAIL__BATCH_SIZE="100",
            APP_MAIL__POLL_INTERVAL_SECONDS="0.05",
            APP_METRICS__ENABLED="false",
            APP_TRACING__ENABLED="false",
        )
        with (tmp_path / "courier.log").open("wb") as output:
            first = await start_process(["courier"], environment, output)
            try:

                async def some_arrived_and_one_in_flight() -> bool:
                    mailbox = server.mailbox
                    return len(mailbox.received) >= 3 and mailbox.in_flight()

                await eventually(some_arrived_and_one_in_flight, timeout=60)
            finally:
                first.kill()
                await first.wait()
        sent_by_the_first = await _sent_count(pool)
        assert 0 < sent_by_the_first < MESSAGES

        async def all_sent() -> bool:
            return await _sent_count(pool) == MESSAGES

        async with couriering(pool, smtp_url=server.url()):
            await eventually(all_sent, timeout=60)

    received = server.mailbox.message_ids()
    expected = {f"<{message.id}@localhost>" for message in messages}
    assert set(received) == expected
    # At least once: only the message in flight at the kill may arrive twice.
    assert len(received) - len(expected) <= 1
    tokens = await pool.fetchval("SELECT count(token) FROM mail_outbox")
    assert tokens == 0


async def test_the_courier_process_starts_then_stops_gracefully_on_sigterm(application, settings):
    await forget_queued_mail(application.pool)
    with smtp_server(login=False) as server:
        url = server.url().replace("smtp://", "smtp+starttls://user:hidden-password@")
        environment = process_environment(
            settings,
            APP_MAIL__SMTP_URL=url,
            APP_METRICS__HOST="127.0.0.1",
            APP_METRICS__PORT="0",
        )
        process = await start_process(["courier"], environment)
        seen: list[str] = []
        try:
            await asyncio.wait_for(read_until(process, "courier process started", seen), 60)
            process.send_signal(signal.SIGTERM)
            rest, _ = await asyncio.wait_for(process.communicate(), timeout=30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    log = "".join(seen) + rest.decode()
    assert process.returncode == 0, log
    assert '"level": "warning"' not in log and '"level": "error"' not in log
    assert "hidden-password" not in log
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    [started] = [event for event in events if event["event"] == "courier process started"]
    assert started["smtp"] == f"smtp+starttls://127.0.0.1:{server.port}"
    assert "courier process stopped" in [event["event"] for event in events]

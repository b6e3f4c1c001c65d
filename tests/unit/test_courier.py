"""The courier on fakes: sent, retried with a capped back-off, abandoned, or left queued."""

from __future__ import annotations

import asyncio

from app.domain.mail import Abandoned, MailRefused, MailUnavailable, RetryLater, RetryPolicy, Sent
from app.usecases.courier import Courier
from tests.support.logs import captured_logs
from tests.support.mail import sample_message
from tests.unit.mail_fakes import FakeMailSender, FakeMessageQueue, abandoned_reasons

POLICY = RetryPolicy(max_attempts=5, first_delay_seconds=1.0, max_delay_seconds=3.0)


def courier(queue: FakeMessageQueue, sender: FakeMailSender | None) -> Courier:
    return Courier(queue, sender, POLICY, batch_size=10, poll_interval_seconds=0.001)


async def test_a_message_the_server_accepts_is_sent_and_its_token_is_not_kept():
    queue, sender = FakeMessageQueue(), FakeMailSender()
    message = sample_message(token="secret-token")
    await queue.add(message)
    assert await courier(queue, sender).deliver_batch() == 1
    assert sender.sent == [message]
    assert queue.outcomes == [(message, Sent())]
    assert queue.tokens_kept() == []


async def test_an_unreachable_server_is_retried_with_a_capped_doubling_wait_then_abandoned():
    queue = FakeMessageQueue()
    sender = FakeMailSender(*(MailUnavailable("connection refused") for _ in range(5)))
    await queue.add(sample_message())
    for _ in range(5):
        await courier(queue, sender).deliver_batch()
    outcomes = [outcome for _, outcome in queue.outcomes]
    assert outcomes == [
        RetryLater(1.0, "connection refused"),
        RetryLater(2.0, "connection refused"),
        RetryLater(3.0, "connection refused"),
        RetryLater(3.0, "connection refused"),
        Abandoned("connection refused"),
    ]
    assert sender.sent == []
    assert queue.waiting == []


async def test_a_refused_message_is_abandoned_at_once_with_the_reason():
    queue = FakeMessageQueue()
    sender = FakeMailSender(MailRefused("550 no such user"))
    await queue.add(sample_message())
    await courier(queue, sender).deliver_batch()
    assert abandoned_reasons(queue) == ["550 no such user"]
    assert queue.waiting == []


async def test_a_failed_attempt_is_logged_without_the_token():
    queue = FakeMessageQueue()
    await queue.add(sample_message(token="never-logged"))
    with captured_logs() as logs:
        await courier(queue, FakeMailSender(MailUnavailable("timed out"))).deliver_batch()
        await courier(queue, FakeMailSender()).deliver_batch()
    [failed] = logs.events("mail not sent")
    assert (failed["attempts"], failed["reason"]) == (1, "timed out")
    assert len(logs.events("mail sent")) == 1
    assert "never-logged" not in logs.text


async def test_a_batch_sends_at_most_batch_size_messages():
    queue, sender = FakeMessageQueue(), FakeMailSender()
    for _ in range(25):
        await queue.add(sample_message())
    assert await courier(queue, sender).deliver_batch() == 10
    assert len(queue.waiting) == 15


async def test_without_a_sender_nothing_is_sent_and_one_warning_says_so():
    queue = FakeMessageQueue()
    await queue.add(sample_message())
    idle = courier(queue, None)
    with captured_logs() as logs:
        running = asyncio.create_task(idle.run())
        await asyncio.sleep(0.05)
        idle.stop()
        await asyncio.wait_for(running, 5)
    assert logs.events("courier started") == []
    warnings = [line for line in logs.text.splitlines() if '"level": "warning"' in line]
    assert len(warnings) == 1
    assert "APP_MAIL__SMTP_URL" in warnings[0]
    assert len(queue.waiting) == 1

"""The courier seen from outside: quiet when idle, one trace per message, metrics by kind."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.adapters.postgres.mail_outbox import MailOutboxPgRepository
from app.bootstrap.mail import build_mail_sender
from app.domain.mail import MessageKind, RetryPolicy
from app.observability.mail_metrics import MeasuredMessageQueue
from app.usecases.courier import Courier
from tests.support.application import make_settings
from tests.support.couriers import QUICK_MAIL, courier_for, forget_queued_mail
from tests.support.mail import Mailbox, queue_message, sample_message, smtp_server
from tests.support.tracing import traced_service

POLLS = 5


async def test_idle_polls_make_no_trace_and_a_message_makes_one_without_its_token():
    async with traced_service() as service:
        pool = service.application.pool
        await forget_queued_mail(pool)
        with smtp_server() as server:
            courier = courier_for(pool, smtp_url=server.url())
            service.finished_spans()
            service.exporter.clear()
            for _ in range(POLLS):
                assert await courier.deliver_batch() == 0
            assert [span.name for span in service.finished_spans()] == []

            await queue_message(pool, sample_message(token="traced-token"))
            service.finished_spans()
            service.exporter.clear()
            assert await courier.deliver_batch() == 1
        spans = service.finished_spans()
        [root] = [span for span in spans if span.name == "MailOutboxPgRepository.deliver_next"]
        children = [
            span for span in spans if span.parent and span.parent.span_id == root.context.span_id
        ]
        # The claim, the outcome and the commit, in the message's one trace.
        assert len(children) >= 3
        assert all(span.context.trace_id == root.context.trace_id for span in spans)
        attributes = [str(value) for span in spans for value in (span.attributes or {}).values()]
        assert not [value for value in attributes if "traced-token" in value]


async def test_sent_failed_and_abandoned_are_counted_by_kind_and_the_queue_is_measured(
    application,
):
    pool = application.pool
    await forget_queued_mail(pool)
    registry = CollectorRegistry()
    accepted = sample_message(MessageKind.PASSWORD_RESET)
    refused = sample_message(MessageKind.PASSWORD_RESET)
    later = sample_message(MessageKind.EMAIL_VERIFICATION)
    for message in (accepted, refused, later):
        await queue_message(pool, message)
    replies = {refused.recipient: "550 5.1.1 no such user", later.recipient: "451 4.3.0 busy"}
    with smtp_server(Mailbox(refuse=replies)) as server:
        settings = make_settings(mail={**QUICK_MAIL, "smtp_url": server.url()})
        courier = Courier(
            # Measured after every message here (the courier's own: at most once a second).
            MeasuredMessageQueue(MailOutboxPgRepository(pool), registry, interval=0),
            build_mail_sender(settings),
            RetryPolicy(max_attempts=3, first_delay_seconds=60, max_delay_seconds=60),
            batch_size=10,
            poll_interval_seconds=0.01,
        )
        assert await courier.deliver_batch() == 3

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("mail_messages_sent_total", kind="password_reset") == 1
    assert sample("mail_messages_abandoned_total", kind="password_reset") == 1
    assert sample("mail_messages_failed_total", kind="email_verification") == 1
    assert sample("mail_messages_sent_total", kind="email_verification") is None
    assert sample("mail_queue_depth") == 1
    oldest = sample("mail_queue_oldest_age_seconds")
    assert oldest is not None and oldest > 0

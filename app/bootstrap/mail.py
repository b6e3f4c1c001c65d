"""The courier: built into the service (``mail.courier_enabled``) or as a process of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from app.adapters.mail.smtp import SmtpMailSender
from app.adapters.mail.templates import MailTemplates
from app.adapters.postgres.bounded_pool import BoundedPool
from app.adapters.postgres.mail_outbox import MailOutboxPgRepository
from app.bootstrap.resources import migrate_if_asked, open_resources_for
from app.config import Settings
from app.domain.mail import MailSender, RetryPolicy
from app.lifecycle import EventsProcess
from app.observability.mail_metrics import MeasuredMessageQueue
from app.usecases.courier import Courier


def build_mail_sender(settings: Settings) -> MailSender | None:
    """The SMTP sender of ``mail.*``; None when no SMTP URL is set.

    Its templates are loaded here, so a broken override fails at start-up.
    """
    mail = settings.mail
    server = mail.server()
    if server is None:
        return None
    templates = MailTemplates(
        product_name=mail.product_name,
        sender=mail.from_address,
        link_base_url=mail.link_base_url,
        templates_dir=mail.templates_dir,
    )
    return SmtpMailSender(
        server,
        templates,
        from_address=mail.from_address,
        product_name=mail.product_name,
        timeout_seconds=mail.timeout_seconds,
        ca_file=mail.ca_file,
    )


def build_courier(
    settings: Settings, pool: BoundedPool, metrics_registry: CollectorRegistry | None = None
) -> Courier:
    """A courier on ``pool``; its metrics on ``metrics_registry`` (one courier per registry)."""
    mail = settings.mail
    return Courier(
        MeasuredMessageQueue(MailOutboxPgRepository(pool), metrics_registry),
        build_mail_sender(settings),
        RetryPolicy(mail.max_attempts, mail.retry_first_seconds, mail.retry_max_seconds),
        batch_size=mail.batch_size,
        poll_interval_seconds=mail.poll_interval_seconds,
    )


async def build_courier_process(settings: Settings) -> EventsProcess:
    """The courier on its own (``make courier``); it migrates first when asked."""
    await migrate_if_asked(settings)
    return await open_resources_for(
        settings,
        lambda resources, closing: EventsProcess(
            build_courier(settings, resources.pool, resources.telemetry.registry),
            resources,
            closing,
        ),
        hashing=False,
    )

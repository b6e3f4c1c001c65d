"""Second-factor verifications counted by kind and outcome, scraped from the service."""

from __future__ import annotations

from app.grpc.generated import user_service_pb2 as pb
from tests.support.client import PASSWORD, failure
from tests.support.metrics import scrape, value
from tests.support.second_factor import (
    STEP,
    SteppedClock,
    code_at,
    complete,
    enrolled_user,
    steered_application,
    ticket_for,
)

METRIC = "mfa_verifications_total"


async def test_verifications_are_counted_by_kind_and_outcome_without_the_user():
    clock = SteppedClock()
    metrics = {"enabled": True, "host": "127.0.0.1", "port": 0}
    async with steered_application(clock, metrics=metrics) as (application, stub):
        assert application.metrics_port
        before = await scrape(application.metrics_port)
        email, secret, codes = await enrolled_user(stub, clock)
        ticket = await ticket_for(stub, email)
        await failure(complete(stub, ticket, code_at(secret, clock.now() + 5 * STEP)))
        code = code_at(secret, clock.now())
        await complete(stub, ticket, code)
        await failure(complete(stub, await ticket_for(stub, email), code))
        await failure(complete(stub, ticket, codes[0]))
        await complete(stub, await ticket_for(stub, email), codes[1])
        old_client = pb.LoginRequest(email=email, password=PASSWORD)
        await failure(stub.Login(old_client))
        samples = await scrape(application.metrics_port)

    # Every pair exists from the start, at zero.
    assert value(before, METRIC, kind="totp", outcome="accepted") == 0
    assert value(before, METRIC, kind="recovery", outcome="throttled") == 0
    counted = {
        (kind, outcome): value(samples, METRIC, kind=kind, outcome=outcome)
        for kind in ("totp", "recovery")
        for outcome in ("accepted", "wrong", "replayed", "ticket_dead", "throttled")
    }
    # ConfirmTotp checks the code without a guess's bookkeeping: not counted.
    assert {pair: n for pair, n in counted.items() if n} == {
        ("totp", "wrong"): 1,
        ("totp", "accepted"): 1,
        ("totp", "replayed"): 1,
        ("recovery", "ticket_dead"): 1,
        ("recovery", "accepted"): 1,
    }
    labelled = {key for sample in samples if sample.name == METRIC for key in sample.labels}
    assert labelled == {"kind", "outcome"}

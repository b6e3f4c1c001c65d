"""The short form of `make soak`: the service as production runs it, under steady load."""

from __future__ import annotations

from bench.soak import MAX_GROWTH, report, soak


async def test_a_short_soak_ends_without_errors_and_with_flat_memory(
    settings, application, tmp_path
):
    callers = 16
    result = await soak(
        settings, seconds=8, warmup_seconds=4, callers=callers, log=tmp_path / "service.log"
    )
    summary = report(result, callers)
    print(summary)  # the figures, with -s
    assert set(result.calls) == {"GetMe", "FindByID", "Login", "Register"}, summary
    assert not result.errors, summary
    assert result.growth <= MAX_GROWTH, summary
    assert result.server_exit_code == 0, summary

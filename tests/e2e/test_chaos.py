"""The chaos run, short: three `sluice serve` processes on one PostgreSQL, killed (-9 and
SIGTERM) and restarted at random, the database stopped once, clients retrying with the same
Idempotency-Keys (sometimes at two processes at once), a receiver failing a share of the
webhooks. Every acknowledged command must be in the log exactly once, and every consumer —
views, the monitor's alerts, timers, webhooks, WebSocket clients — must agree with the log.

A longer run, with a seed to replay: python -m tests.support.chaos --seconds 600 --seed N
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.chaos import Chaos, report

SEED = 20261201


@pytest.mark.timeout(420)
async def test_nothing_acknowledged_is_lost_or_doubled_and_every_consumer_agrees(
    tmp_path: Path,
) -> None:
    chaos = Chaos(seconds=45, seed=SEED, processes=3, workdir=tmp_path)
    findings = await chaos.run()
    summary = report(findings, 45)
    print(summary)
    assert findings.kills >= 2 and findings.terms >= 1, summary
    assert findings.outages == 1, summary
    assert len(findings.acknowledged) >= 100, summary
    assert findings.problems == [], summary

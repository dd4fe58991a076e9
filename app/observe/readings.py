"""What ``GET /metrics`` reads at scrape time instead of counting on a hot path.

Pool usage, clients connected and slow clients closed are in memory already. Consumer lag and
the outbox backlog come from the database (the checkpoints and outbox are shared, so every
process reports the same values for them); that read is bounded by a short timeout and, when
the database cannot answer, left out, with ``sluice_metrics_database_up`` saying so, rather
than failing the whole scrape: the process's own counters matter most during an outage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from psycopg_pool import AsyncConnectionPool

from app.db.outages import OUTAGE_ERRORS
from app.relay.checkpoints import Checkpoints
from app.relay.sql import OUTBOX_BACKLOG
from app.relay.status import ConsumerStatus
from app.stream.hub import LogHub

log = logging.getLogger("sluice.api")

DATABASE_READ_SECONDS = 2.0

# Running and paused workflows, from their snapshots (the partial index holds only these).
OPEN_WORKFLOWS = """
SELECT entity_type, state->>'status', count(*) FROM snapshots
WHERE entity_type = ANY(%(names)s) AND state->>'kind' = 'workflow'
  AND state->>'status' IN ('running', 'paused')
GROUP BY 1, 2
"""
OPEN_STATUSES = ("running", "paused")


@dataclass(frozen=True)
class ConsumerLag:
    name: str
    kind: str
    events: int
    seconds: float


@dataclass(frozen=True)
class Reading:
    pool: dict[str, int] = field(default_factory=dict)
    websocket_clients: int = 0
    websocket_slow_closed: int = 0
    database_up: bool = False
    consumers: tuple[ConsumerLag, ...] = ()
    outbox_events: int = 0
    outbox_seconds: float = 0.0
    workflows: tuple[tuple[str, str, int], ...] = ()  # (workflow, status, how many)


class Readings:
    """A custom collector: ``refresh()`` takes the readings, ``collect()`` reports the last ones.

    The route refreshes and then encodes with no await in between, so each scrape reports the
    readings it took itself even when two scrapes overlap.
    """

    def __init__(self) -> None:
        self.snapshot = Reading()

    async def refresh(
        self,
        *,
        pool: AsyncConnectionPool,
        checkpoints: Checkpoints,
        declares: Callable[[str], bool],
        hub: LogHub,
        subscriptions: int,
        workflows: tuple[str, ...] = (),
    ) -> None:
        consumers: tuple[ConsumerLag, ...] = ()
        backlog: tuple[int, float] = (0, 0.0)
        open_workflows: tuple[tuple[str, str, int], ...] = ()
        database_up = True
        try:
            async with asyncio.timeout(DATABASE_READ_SECONDS):
                consumers = await _consumer_lag(checkpoints, declares)
                backlog = await _outbox_backlog(pool)
                open_workflows = await _open_workflows(pool, workflows)
        except (*OUTAGE_ERRORS, TimeoutError) as error:
            log.warning("metrics: database readings skipped (%s)", type(error).__name__)
            database_up = False
        self.snapshot = Reading(
            pool=pool.get_stats(),
            websocket_clients=subscriptions,
            websocket_slow_closed=hub.slow_closed,
            database_up=database_up,
            consumers=consumers,
            outbox_events=backlog[0],
            outbox_seconds=backlog[1],
            workflows=open_workflows,
        )

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not read a snapshot that does not exist yet."""
        return []

    def collect(self) -> Iterator[Metric]:
        taken = self.snapshot
        yield from _pool_families(taken.pool)
        yield _gauge(
            "sluice_websocket_clients",
            "WebSocket log subscribers connected.",
            [((), taken.websocket_clients)],
        )
        slow = CounterMetricFamily(
            "sluice_websocket_dropped_slow",
            "WebSocket subscribers closed with 4008 for not keeping up.",
            value=taken.websocket_slow_closed,
        )
        yield slow
        yield _gauge(
            "sluice_metrics_database_up",
            "1 if this scrape could read consumer lag and the outbox backlog, else 0.",
            [((), int(taken.database_up))],
        )
        if not taken.database_up:
            return
        yield from _lag_families(taken.consumers)
        yield _gauge(
            "sluice_outbox_backlog_events",
            "Appended events not sequenced yet.",
            [((), taken.outbox_events)],
        )
        yield _gauge(
            "sluice_sequencer_lag_seconds",
            "How long the oldest event not sequenced yet has waited (0 when none waits).",
            [((), taken.outbox_seconds)],
        )
        if taken.workflows:
            yield _gauge(
                "sluice_workflows_open",
                "Workflows running or paused, by workflow and status.",
                [((name, status), count) for name, status, count in taken.workflows],
                labels=["workflow", "status"],
            )


async def _consumer_lag(
    checkpoints: Checkpoints, declares: Callable[[str], bool]
) -> tuple[ConsumerLag, ...]:
    """Lag as ``GET /consumers`` computes it, so the two never disagree; retired consumers
    (not declared by this service) have none to count."""
    statuses = [
        ConsumerStatus.from_row(row) for row in await checkpoints.status() if declares(row["name"])
    ]
    return tuple(
        ConsumerLag(status.name, status.kind, status.lag_events, status.lag_seconds)
        for status in statuses
    )


async def _outbox_backlog(pool: AsyncConnectionPool) -> tuple[int, float]:
    async with pool.connection() as conn:
        row = await (await conn.execute(OUTBOX_BACKLOG)).fetchone()
    return (int(row[0]), float(row[1])) if row else (0, 0.0)


async def _open_workflows(
    pool: AsyncConnectionPool, names: tuple[str, ...]
) -> tuple[tuple[str, str, int], ...]:
    """Each declared workflow's running and paused count, zeros included (a gauge that
    vanishes when it reaches zero reads as "no data", not as none)."""
    if not names:
        return ()
    async with pool.connection() as conn:
        rows = await (await conn.execute(OPEN_WORKFLOWS, {"names": list(names)})).fetchall()
    counted = {(name, status): int(count) for name, status, count in rows}
    return tuple(
        (name, status, counted.get((name, status), 0))
        for name in sorted(names)
        for status in OPEN_STATUSES
    )


def _pool_families(stats: dict[str, int]) -> Iterator[Metric]:
    """psycopg_pool's own figures; its counters appear in get_stats() only once non-zero."""
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    yield _gauge(
        "sluice_db_pool_connections",
        "Connections the pool holds, idle or lent out.",
        [(("idle",), idle), (("in_use",), max(0, size - idle))],
        labels=["state"],
    )
    yield _gauge(
        "sluice_db_pool_max_connections",
        "The pool's maximum size.",
        [((), stats.get("pool_max", 0))],
    )
    yield _gauge(
        "sluice_db_pool_waiting_requests",
        "Requests waiting for a connection now.",
        [((), stats.get("requests_waiting", 0))],
    )
    counters = (
        ("sluice_db_pool_requests", "Connections asked of the pool.", "requests_num", 1),
        ("sluice_db_pool_requests_queued", "Requests that had to wait.", "requests_queued", 1),
        ("sluice_db_pool_wait_seconds", "Time spent waiting.", "requests_wait_ms", 1000),
        ("sluice_db_pool_timeouts", "Requests that timed out waiting.", "requests_errors", 1),
    )
    for name, documentation, key, divisor in counters:
        yield CounterMetricFamily(name, documentation, value=stats.get(key, 0) / divisor)


def _lag_families(consumers: tuple[ConsumerLag, ...]) -> Iterator[Metric]:
    labels = ["consumer", "kind"]
    yield _gauge(
        "sluice_consumer_lag_events",
        "Events in the log a consumer has not handled yet (head - checkpoint).",
        [((lag.name, lag.kind), lag.events) for lag in consumers],
        labels=labels,
    )
    yield _gauge(
        "sluice_consumer_lag_seconds",
        "Age of the oldest event a consumer has not handled yet.",
        [((lag.name, lag.kind), lag.seconds) for lag in consumers],
        labels=labels,
    )


def _gauge(
    name: str,
    documentation: str,
    samples: list[tuple[tuple[str, ...], float]],
    labels: list[str] | None = None,
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels or [])
    for values, value in samples:
        family.add_metric(list(values), value)
    return family

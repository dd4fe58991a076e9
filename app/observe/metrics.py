"""Prometheus metrics, served at ``GET /metrics``.

Each app gets its own CollectorRegistry, never prometheus_client's process-wide default: tests
build many apps in one process, and a global registry would refuse the second app's metrics
or mix two apps' numbers.

Numbers that change on a hot path are counted where they happen, on label children bound up
front (two dict lookups, a counter and a histogram: ~3.5 µs a command on a 2-core box, against
~1 ms of work per command). Numbers that are cheap to read when Prometheus asks (pool usage,
consumer lag, the outbox backlog, clients connected) are read then, by ``Readings``, and cost
nothing in between.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder

from app.api.problems import ProblemError
from app.observe.readings import Readings
from app.runtime import RuntimeDep
from app.sdk.service import Service

# Every way a command can end: the runner's two successes, then app.journal.errors' outcomes
# (``invalid`` also counts a request refused before it ran: a bad body, header or entity id).
COMMAND_OUTCOMES = (
    "accepted",
    "replayed",
    "rejected",
    "conflict",
    "contention",
    "key_reused",
    "invalid",
    "unavailable",
    "error",
)
WEBHOOK_OUTCOMES = (  # Attempt.outcome(): a fixed set, whatever a receiver answers
    "success",
    "gone",
    "http_3xx",
    "http_4xx",
    "http_5xx",
    "other",  # a status outside 2xx-5xx (h11 allows any three digits)
    "timeout",
    "refused",
    "connection_error",
    "protocol_error",  # an answer that is not HTTP/1.1
    "error",  # an attempt that failed in a way the sender does not know
)
# A command takes a few ms when the database is near; the tail is lock waits and retries.
COMMAND_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
APPEND_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 200)  # the journal's max_batch is 200
SEQUENCER_BATCH_SIZES = (1, 10, 50, 100, 500, 1000, 2000, 5000)  # up to sequencer_batch_size

router = APIRouter(tags=["operations"])

# Without this every counter and histogram series gets a *_created twin, which Prometheus stores
# as one more series for nothing (it reads created timestamps only from OpenMetrics, if asked).
# The switch is process-wide; this app is the process's only prometheus_client user.
disable_created_metrics()

# One command's children: outcome -> counter, and its duration histogram.
_Bound = tuple[dict[str, Counter], Histogram]


def _kafka_counters(registry: CollectorRegistry) -> tuple[Counter, Counter]:
    messages = Counter(
        "sluice_kafka_messages",
        "Kafka messages: produced (acknowledged by the broker) or consumed (applied).",
        ["client", "topic", "direction"],
        registry=registry,
    )
    broker_errors = Counter(
        "sluice_kafka_broker_errors",
        "Times a Kafka client found its brokers unavailable (batches not acknowledged,"
        " connections lost).",
        ["client"],
        registry=registry,
    )
    return messages, broker_errors


class Metrics:
    """One app's metrics; components are handed the bound methods they report through."""

    def __init__(self, service: Service) -> None:
        self.registry = registry = CollectorRegistry()
        commands = Counter(
            "sluice_commands",
            "Commands run, by how they ended.",
            ["entity_type", "command", "outcome"],
            registry=registry,
        )
        durations = Histogram(
            "sluice_command_duration_seconds",
            "Time to run a command (lock wait, load, decide, append), whatever its outcome.",
            ["entity_type", "command"],
            buckets=COMMAND_SECONDS,
            registry=registry,
        )
        self._command_counter, self._duration = commands, durations
        # entity type -> command -> (outcome -> counter, duration): bound once, so a command
        # costs lookups and additions, and every series exists (at 0) before its first use.
        self._commands: dict[str, dict[str, _Bound]] = {}
        for entity in service.entity_types.values():
            for command in entity.commands:
                self._bind(entity.name, command)
        self.append_batch = Histogram(
            "sluice_append_batch_size",
            "Commands written per journal commit (group commit).",
            buckets=APPEND_BATCH_SIZES,
            registry=registry,
        )
        self.sequencer_batch = Histogram(
            "sluice_sequencer_batch_size",
            "Events numbered per sequencer batch (only the leading process sequences).",
            buckets=SEQUENCER_BATCH_SIZES,
            registry=registry,
        )
        attempts = Counter(
            "sluice_webhook_attempts",
            "Webhook delivery attempts, by how they went.",
            ["outcome"],
            registry=registry,
        )
        self._attempts = {outcome: attempts.labels(outcome) for outcome in WEBHOOK_OUTCOMES}
        self._attempt_counter = attempts
        self.kafka_messages, self.kafka_broker_errors = _kafka_counters(registry)
        self.readings = Readings()
        registry.register(self.readings)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)

    def command_finished(
        self, entity_type: str, command: str, outcome: str, seconds: float
    ) -> None:
        """The runner's observer. Only declared names reach it (the runner checks them first),
        and it must never raise: it runs on the way out of every command."""
        counters, duration = self._bound(entity_type, command)
        counter = counters.get(outcome)
        if counter is None:
            counter = counters[outcome] = self._command_counter.labels(
                entity_type, command, outcome
            )
        counter.inc()
        duration.observe(seconds)

    def command_refused(self, entity_type: str, command: str, error: Exception) -> None:
        """A declared command's request refused before it ran: ``invalid`` when it was the
        request's fault (bad JSON, body, header, If-Match or entity id); not timed."""
        if isinstance(error, RequestValidationError) or (
            isinstance(error, ProblemError) and error.status in (400, 415)
        ):
            self._bound(entity_type, command)[0]["invalid"].inc()

    def _bound(self, entity_type: str, command: str) -> _Bound:
        by_command = self._commands.get(entity_type)
        bound = by_command.get(command) if by_command is not None else None
        return bound if bound is not None else self._bind(entity_type, command)

    def _bind(self, entity_type: str, command: str) -> _Bound:
        counters = {
            outcome: self._command_counter.labels(entity_type, command, outcome)
            for outcome in COMMAND_OUTCOMES
        }
        bound = (counters, self._duration.labels(entity_type, command))
        self._commands.setdefault(entity_type, {})[command] = bound
        return bound

    def kafka_produced(self, client: str, topic: str, count: int) -> None:
        self.kafka_messages.labels(client, topic, "produced").inc(count)

    def kafka_consumed(self, client: str, topic: str, count: int) -> None:
        self.kafka_messages.labels(client, topic, "consumed").inc(count)

    def kafka_broker_error(self, client: str) -> None:
        self.kafka_broker_errors.labels(client).inc()

    def webhook_attempt(self, outcome: str) -> None:
        counter = self._attempts.get(outcome)
        if counter is None:  # a word Attempt.outcome() learned later: still a small, fixed set
            counter = self._attempts[outcome] = self._attempt_counter.labels(outcome)
        counter.inc()


@router.get(
    "/metrics",
    name="metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=PlainTextResponse,
    responses={
        200: {"description": "Every metric, as the documentation's Metrics page lists them."}
    },
)
async def read_metrics(request: Request, runtime: RuntimeDep) -> Response:
    """Process-local counters plus readings taken now: pool usage, consumer lag (from the
    shared checkpoints, so every process reports the same), outbox backlog, WebSocket clients.
    OpenMetrics is served instead when the scraper asks for it in Accept."""
    metrics = runtime.metrics
    await metrics.readings.refresh(
        pool=runtime.pool,
        checkpoints=runtime.checkpoints,
        declares=runtime.declares,
        hub=runtime.hub,
        subscriptions=len(runtime.sockets),
        workflows=tuple(runtime.service.workflow_types),
    )
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(metrics.registry), media_type=content_type)

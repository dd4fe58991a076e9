"""The one typed runtime of a process: what the routes and the middleware are handed.

Built once, in one place (``app/assembly.py``), when the app starts: the pool, the settings,
the repositories, the workers. Routes take it, or a part of it, through ``Annotated``
dependencies (``RuntimeDep``); pure ASGI middleware calls ``runtime_of(scope)``. Nothing else
is kept on ``app.state``.

This module imports its field types for the type checker only, so any package may depend on
it without depending on every other package: the dependency arrows stay one way (see
tests/unit/test_import_graph.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import Depends
from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from app.background.leadership import Leadership
    from app.background.listener import Listener
    from app.journal.commands import CommandRunner
    from app.journal.repository import Journal
    from app.keys.keyring import KeyRing
    from app.keys.store import KeyStore
    from app.observe.metrics import Metrics
    from app.public.reader import PublicStream
    from app.relay.checkpoints import Checkpoints
    from app.relay.log import EventLog
    from app.relay.sequencer import Sequencer
    from app.sdk.service import Service
    from app.settings import Settings
    from app.stream.hub import LogHub
    from app.stream.sockets import OpenSockets
    from app.views.consistency import CheckpointWatch
    from app.views.queries import ViewQueries
    from app.views.rebuild import Rebuilds
    from app.webhooks.deliveries import Deliveries
    from app.webhooks.subscriptions import Subscriptions


class Worker(Protocol):
    """Something the runtime starts and stops: every ``PollingWorker``, and the rebuilds."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    service: Service
    service_name: str
    pool: AsyncConnectionPool
    listener: Listener
    leadership: Leadership
    # commands in
    journal: Journal
    runner: CommandRunner
    # the log out
    sequencer: Sequencer
    log: EventLog
    hub: LogHub
    sockets: OpenSockets
    checkpoints: Checkpoints
    # views
    view_queries: ViewQueries
    checkpoint_watch: CheckpointWatch
    rebuilds: Rebuilds
    # webhooks
    webhooks: Subscriptions
    deliveries: Deliveries
    # keys and operations
    keys: KeyStore
    keyring: KeyRing
    metrics: Metrics
    # public streams other services read, by id
    public: dict[str, PublicStream] = field(default_factory=dict)
    # every background worker, in the order they start (the data's path); stopped reversed
    workers: list[Worker] = field(default_factory=list)
    consumer_names: frozenset[str] = frozenset()  # what this service declares; others: retired
    draining: bool = False
    # set when the process starts to stop: long polls answer at once instead of holding it up
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: bool = False

    def declares(self, consumer: str) -> bool:
        """Whether a checkpoint is one of this service's consumers' (a Kafka-fed consumer's
        are one per partition: ``{name}@{partition}``)."""
        return consumer in self.consumer_names or consumer.rpartition("@")[0] in self.consumer_names

    async def start(self) -> None:
        for worker in self.workers:
            worker.start()

    async def stop(self) -> None:
        """Idempotent: a graceful drain stops the workers early, the lifespan again."""
        if self.stopped:
            return
        self.stopped = True
        for worker in reversed(self.workers):
            await worker.stop()


def runtime_of(scope: dict[str, Any]) -> Runtime:
    """The runtime of the app serving this ASGI scope (for middleware)."""
    runtime: Runtime = scope["app"].state.runtime
    return runtime


def _runtime(connection: HTTPConnection) -> Runtime:
    return runtime_of(connection.scope)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]

"""Entity caches of several processes: an append in one brings the entity up to date in the
others (or, when its events cannot ride along, evicts it there).

Two command runners on one database, each with its own pool, journal and LISTEN connection,
as two `sluice serve` processes have.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg_pool import AsyncConnectionPool

from app.background.listener import Listener
from app.background.settings import WorkerSettings
from app.journal.cache import follow_written_elsewhere
from app.journal.commands import CommandRequest, CommandRunner
from app.journal.repository import Journal
from app.journal.settings import CommandSettings
from app.journal.sql import OUTBOX_CHANNEL
from app.services.ward import service as ward
from app.services.ward.patient import Admit, RecordVitals
from tests.support.waiting import eventually

ADMIT = Admit(name="Ada", ward="W1", bed="1")
VITALS = RecordVitals(
    respiration_rate=18,
    spo2=96,
    on_oxygen=False,
    systolic_bp=118,
    pulse=84,
    consciousness="A",
    temperature=37.2,
)


@asynccontextmanager
async def process(database_url: str) -> AsyncIterator[tuple[CommandRunner, Listener]]:
    pool = AsyncConnectionPool(
        database_url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    runner = CommandRunner(ward, Journal(pool), CommandSettings())
    listener = Listener(database_url, WorkerSettings())
    listener.on_payload(OUTBOX_CHANNEL, runner.follower())
    listener.start()
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        yield runner, listener
    finally:
        await listener.stop()
        await pool.close()


async def test_an_append_in_another_process_updates_the_entity_here(database_url: str) -> None:
    async with process(database_url) as (one, listener), process(database_url) as (two, _):
        heard: list[str] = []
        listener.on_payload(OUTBOX_CHANNEL, heard.append)  # after the cache's own reader
        await one.run(CommandRequest("patient", "p1", "admit", ADMIT))
        await eventually(lambda: any('"p1"' in payload for payload in heard), 5, "own append")
        # alone on the database, one names what it wrote but builds no events for nobody
        assert json.loads(heard[-1].partition(" ")[2]) == [["patient", "p1"]]
        await two.run(CommandRequest("patient", "p0", "admit", ADMIT))  # two appends here too
        await eventually(lambda: any('"p0"' in payload for payload in heard), 5, "two heard")
        await one.run(CommandRequest("patient", "p2", "admit", ADMIT))
        await eventually(lambda: any('"p2"' in payload for payload in heard), 5, "own append")
        (written,) = json.loads(heard[-1].partition(" ")[2])
        assert written[:4] == ["patient", "p2", 1, "PatientAdmitted"]  # now with its events
        # one's own notifications changed nothing of its own
        assert one.cache.peek(("patient", "p1"))[1] == 1  # type: ignore[index]
        assert one.cache.peek(("patient", "p2"))[1] == 1  # type: ignore[index]

        await two.run(CommandRequest("patient", "p1", "record-vitals", VITALS))
        await eventually(lambda: one.cache.peek(("patient", "p1"))[1] == 2, 5, "p1 followed")  # type: ignore[index]
        patient = ward.entity_types["patient"]
        fresh = await one.journal.load(patient, "p1")
        assert one.cache.peek(("patient", "p1")) == (fresh.state, 2)  # as a reload has it
        assert one.cache.peek(("patient", "p2"))[1] == 1  # type: ignore[index]

        # one decides p1 on the followed state, with no reload and no race lost
        loads = one.journal.load
        reloaded: list[str] = []

        async def counted(*args: object, **kwargs: object) -> object:
            reloaded.append(str(args[1]))
            return await loads(*args, **kwargs)  # type: ignore[arg-type]

        one.journal.load = counted  # type: ignore[method-assign]
        outcome = await one.run(CommandRequest("patient", "p1", "record-vitals", VITALS))
        assert outcome.result.version == 3
        assert reloaded == []


async def test_what_cannot_be_followed_is_forgotten(database_url: str) -> None:
    """Events that do not follow the held version (a notification missed), entities named
    without their events (a batch too big to carry them), and events this code cannot read
    all leave the cache: the next command reloads rather than decide on a guess."""
    async with process(database_url) as (one, _):
        for patient in ("p3", "p4", "p5", "p6"):
            await one.run(CommandRequest("patient", patient, "admit", ADMIT))
        vitals = VITALS.model_dump()
        heard = follow_written_elsewhere(one.cache, one.journal.origin, ward.entity_types)
        event = ["patient", "p3", 3, "VitalsRecorded", 1, vitals]  # version 2 never heard
        names_only = ["patient", "p4"]
        unreadable = ["patient", "p5", 2, "NoSuchEvent", 1, {}]
        already_in = ["patient", "p6", 1, "Admitted", 1, {}]  # its own version: nothing to do
        heard("elsewhere " + json.dumps([event, names_only, unreadable, already_in]))
        assert one.cache.peek(("patient", "p3")) is None
        assert one.cache.peek(("patient", "p4")) is None
        assert one.cache.peek(("patient", "p5")) is None
        assert one.cache.peek(("patient", "p6"))[1] == 1  # type: ignore[index]
        outcome = await one.run(CommandRequest("patient", "p3", "record-vitals", VITALS))
        assert outcome.result.version == 2


async def test_past_the_queue_limit_only_the_origin_is_sent_and_the_append_lands(
    database_url: str,
) -> None:
    """A listener that stops reading holds PostgreSQL's notification queue back; once full,
    every NOTIFY, and with it every append, fails. Past the limit (here 0, as if the queue
    were already that full) the names stay out: the append lands, other caches find out by
    losing a race."""
    async with process(database_url) as (one, listener), process(database_url) as (two, _):
        heard: list[str] = []
        listener.on_payload(OUTBOX_CHANNEL, heard.append)  # listened to already: no "" here
        await two.run(CommandRequest("patient", "p8", "admit", ADMIT))
        await eventually(lambda: any('"p8"' in payload for payload in heard), 5, "names sent")
        two.journal.names_in_notify_below = 0.0
        await one.run(CommandRequest("patient", "p9", "admit", ADMIT))
        await two.run(CommandRequest("patient", "p9", "record-vitals", VITALS))
        await eventually(lambda: two.journal.origin in heard, 5, "the origin alone")
        assert not any(
            '"p9"' in payload for payload in heard if payload.startswith(two.journal.origin)
        )
        # one's entry for p9 is stale now: its next command loses the race, then lands
        outcome = await one.run(CommandRequest("patient", "p9", "record-vitals", VITALS))
        assert outcome.result.version == 3

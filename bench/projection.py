"""Views: the ward-board projector's catch-up rate, and command -> view-visible latency.

    python -m bench projection [--patients 1000] [--per-patient 100] [--trials 3]
                               [--rate 200] [--seconds 20] [--skip-latency]

Prints, measured in the same run on the same PostgreSQL:
  * throughput: a backlog of admissions then rounds of one VitalsRecorded per patient (varied
    readings, so scores and risks differ), appended through the journal and sequenced; on a
    fresh copy of it per trial, the `ward-board` projector (ViewProjector driven by
    ConsumerWorker, wired as `sluice serve` wires them, alone in this process) catches up from
    seq 0 to the head. Baseline: the row each event leaves behind, one upsert per event, sent
    by raw psycopg (executemany, pipeline mode) in one transaction per --batch rows into an
    empty copy of the table. With --batch <= --patients the projector writes as many rows (a
    batch holds one round: every event in it is another patient's); the table says so.
    Median of --trials.
  * latency: `sluice serve` under --rate record-vitals commands/s (wrk, paced, plus the
    sampler's own). The sampler posts a command, then GET /views/ward-board/{id}
    ?consistent_with=<its event_id>: POST sent -> GET answered. Baseline: a plain POST round
    trip from the same client, interleaved with those, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import shutil
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from app.background.leadership import Leadership
from app.background.listener import Listener
from app.background.settings import WorkerSettings
from app.journal.repository import Journal, PendingAppend
from app.relay.checkpoints import Checkpoints
from app.relay.consumer import ConsumerWorker
from app.relay.log import EventLog
from app.relay.sequencer import Sequencer
from app.relay.settings import SequencerSettings
from app.relay.sql import CHECKPOINT_CHANNEL
from app.services.ward import service as ward
from app.services.ward.patient import PatientAdmitted, VitalsRecorded
from app.services.ward.views import ward_board
from app.settings import Settings, get_settings
from app.views.projector import ViewProjector
from bench import view_latency
from bench.database import BenchDatabase, bench_database
from bench.report import median, table

RAW_TABLE = "bench_ward_board"
CATCH_UP_LIMIT_SECONDS = 600


def pool(url: str, size: int) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        url, min_size=size, max_size=size, kwargs={"autocommit": True}, open=False
    )


# -- the backlog --------------------------------------------------------------------------------
def readings(rng: random.Random) -> dict[str, Any]:
    """Mostly ordinary vital signs with a tail of worrying ones: NEWS2 from 0 to the teens."""
    return {
        "respiration_rate": rng.choice((8, 10, 12, 14, 16, 18, 20, 22, 26)),
        "spo2": rng.randint(88, 100),
        "on_oxygen": rng.random() < 0.1,
        "systolic_bp": rng.randint(85, 190),
        "pulse": rng.randint(40, 140),
        "consciousness": "A" if rng.random() < 0.97 else "C",
        "temperature": round(rng.uniform(34.8, 39.6), 1),
    }


def patient_events(patient: int, version: int, rng: random.Random) -> PendingAppend:
    ward_name, scale = f"W{patient % 10}", 2 if patient % 20 == 0 else 1
    if version == 1:
        event: Any = PatientAdmitted(
            name=f"Patient {patient}", ward=ward_name, bed=str(patient), spo2_scale=scale
        )
    else:
        event = VitalsRecorded(**readings(rng), ward=ward_name, spo2_scale=scale)
    return PendingAppend(
        entity_type="patient",
        entity_id=f"bp{patient}",
        first_version=version,
        events=[(uuid.uuid4(), event)],
        metadata={"command": "bench"},
    )


async def append_backlog(url: str, patients: int, per_patient: int) -> int:
    """Round by round, as a ward records them: a projector batch spans many patients' rows,
    not one patient's history. Returns the number of events, once all are sequenced."""
    rng, connections = random.Random(2026), pool(url, 4)
    await connections.open(wait=True)
    listener = Listener(url, WorkerSettings())
    sequencer = Sequencer(url, listener, SequencerSettings(), WorkerSettings(poll_seconds=0.05))
    listener.start()
    sequencer.start()
    journal, total = Journal(connections), patients * (per_patient + 1)
    try:
        for version in range(1, per_patient + 2):
            appends = [patient_events(p, version, rng) for p in range(1, patients + 1)]
            await asyncio.gather(*(journal.append(pending) for pending in appends))
        while sequencer.stats.sequenced < total:  # noqa: ASYNC110 - its counter, no query
            await asyncio.sleep(0.05)
    finally:
        await sequencer.stop()
        await listener.stop()
        await connections.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # not left to autovacuum during a measurement
    return total


# -- the projector ------------------------------------------------------------------------------
async def projector_rate(url: str, settings: Settings) -> float:
    """Events/s of ward-board catching up the whole log, leadership already taken."""
    connections = pool(url, 4)
    await connections.open(wait=True)
    checkpoints, event_log = Checkpoints(connections), EventLog(connections, ward, "ward")
    listener = Listener(url, settings.background)
    leadership = Leadership(url, settings.background)
    projector = ViewProjector(
        ward_board,
        ward,
        pool=connections,
        checkpoints=checkpoints,
        event_log=event_log,
        cache_size=settings.views.cache_size,
    )
    worker = ConsumerWorker(
        projector,
        checkpoints=checkpoints,
        event_log=event_log,
        leadership=leadership,
        listener=listener,
        settings=settings.consumers,
        worker_settings=settings.background,
    )
    head, caught_up = await event_log.head(), asyncio.Event()

    def heard(payload: str) -> None:  # the projector's own NOTIFY, committed with its batch
        if payload == f"{ward_board.name}:{head}":
            caught_up.set()

    listener.on_payload(CHECKPOINT_CHANNEL, heard)
    await checkpoints.register(ward_board.name, projector.kind)
    listener.start()
    leadership.start()
    try:
        await listener.connected.wait()
        await leadership.wait_leading(ward_board.name)
        started = time.perf_counter()
        worker.start()
        async with asyncio.timeout(CATCH_UP_LIMIT_SECONDS):
            await caught_up.wait()
        return head / (time.perf_counter() - started)
    finally:
        await worker.stop()
        await leadership.stop()
        await listener.stop()
        await connections.close()


# -- the baseline -------------------------------------------------------------------------------
def board_columns() -> list[str]:
    return list(ward_board.table.columns.keys())


async def board_rows(url: str, batch: int, chunk: int = 10_000) -> tuple[list[Any], int]:
    """The row each event leaves behind, folded by the view's own handlers (not timed); and
    how many rows the projector writes: one per row touched in each of its batches."""
    connections = pool(url, 1)
    await connections.open(wait=True)
    event_log, types = EventLog(connections, ward, "ward"), ward.log_types(ward_board.handlers)
    board: dict[Any, Any] = {}
    written: list[tuple[Any, ...]] = []
    projected: set[tuple[int, Any]] = set()
    try:
        head = await event_log.head()
        for after in range(0, head, chunk):
            rows = await event_log.read_range(ward_board.name, after, after + chunk, types)
            for stored in rows:
                logged = event_log.decode(stored)
                handler = ward_board.handlers[type(logged.event)]
                key = handler.key(logged.event, logged.meta)
                row = board[key] = handler.handler(board.get(key), logged.event, logged.meta)
                projected.add(((logged.meta.seq - 1) // batch, key))
                if row is not None:  # the handlers mutate the row: copy out its values now
                    written.append(tuple(_param(getattr(row, c)) for c in board_columns()))
    finally:
        await connections.close()
    return written, len(projected)


def _param(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict | list) else value


def raw_upsert_rate(url: str, rows: Sequence[tuple[Any, ...]], batch: int) -> float:
    """Rows/s of the textbook way: executemany of INSERT .. ON CONFLICT DO UPDATE, one
    transaction per `batch` rows, into an empty copy of the view's table (same indexes)."""
    columns, key = board_columns(), ward_board.key_column
    ident = sql.Identifier
    upsert = sql.SQL(
        "INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT ({key}) DO UPDATE SET {set}"
    ).format(
        table=ident(RAW_TABLE),
        columns=sql.SQL(", ").join(map(ident, columns)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        key=ident(key),
        set=sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(ident(c)) for c in columns if c != key
        ),
    )
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                ident(RAW_TABLE), ident(ward_board.table.name)
            )
        )
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            with conn.transaction():
                cursor.executemany(upsert, rows[start : start + batch])
        return len(rows) / (time.perf_counter() - started)


def same_rows(url: str) -> bool:
    """The projector's table and the baseline's end identical: the same work was measured."""
    query = sql.SQL(
        "SELECT (SELECT count(*) FROM {a}) = (SELECT count(*) FROM {b})"
        " AND NOT EXISTS (SELECT * FROM {a} EXCEPT SELECT * FROM {b})"
    ).format(a=sql.Identifier(ward_board.table.name), b=sql.Identifier(RAW_TABLE))
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    return bool(row and row[0])


def throughput_trial(
    db: BenchDatabase, backlog: str, rows: Sequence[tuple[Any, ...]], trial: int, batch: int
) -> tuple[float, float, bool]:
    """(projector events/s, raw rows/s, same rows?) on a fresh copy of the backlog. The order
    alternates between trials, so neither always inherits the other's dirty pages."""
    url = db.clone(backlog, "bench_proj")
    settings = get_settings().but(consumer_batch_size=batch)
    if trial % 2:
        raw = raw_upsert_rate(url, rows, batch)
        projected = asyncio.run(projector_rate(url, settings))
    else:
        projected = asyncio.run(projector_rate(url, settings))
        raw = raw_upsert_rate(url, rows, batch)
    return projected, raw, same_rows(url)


# -- the run ------------------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m bench projection", description=__doc__)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--per-patient", type=int, default=100, help="VitalsRecorded each")
    parser.add_argument("--trials", type=int, default=3, help="throughput runs (median)")
    parser.add_argument("--batch", type=int, default=settings.consumers.batch_size)
    parser.add_argument("--rate", type=float, default=200.0, help="commands/s offered in all")
    parser.add_argument("--sample-rate", type=float, default=30.0, help="of which the sampler's")
    parser.add_argument("--seconds", type=float, default=20.0, help="of load")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_latency and shutil.which("wrk") is None:
        print("wrk not found: `apt-get install wrk` (or pass --skip-latency)", file=sys.stderr)
        return 2

    # The client's collector is kept off what is built once (in the latency sampler, and
    # through the projector's measurement: 100,000 baseline rows), so its full passes do not
    # count as the server's latency or the projector's time.
    gc.collect()
    gc.freeze()
    with bench_database() as db:
        # Latency first: the throughput phase leaves checkpoints and vacuum work behind.
        if not args.skip_latency:
            view_latency.run(db.fresh("bench_view_latency"), args)
        throughput(db, args)
    return 0


def throughput(db: BenchDatabase, args: argparse.Namespace) -> None:
    backlog = db.fresh("bench_backlog")
    events = asyncio.run(append_backlog(backlog, args.patients, args.per_patient))
    rows, projected_rows = asyncio.run(board_rows(backlog, args.batch))
    gc.collect()
    gc.freeze()
    trials = [throughput_trial(db, backlog, rows, t, args.batch) for t in range(args.trials)]
    projected, raw = median([t[0] for t in trials]), median([t[1] for t in trials])
    table(
        f"ward-board catch-up: {events:,} events ({args.patients:,} patients), batches of"
        f" {args.batch:,} (median of {args.trials})",
        ["path", "events/s", "trials", "rows written", "same final rows"],
        [
            [
                "raw psycopg executemany (baseline)",
                raw,
                _each(t[1] for t in trials),
                f"{len(rows):,}",
                "",
            ],
            [
                "ward-board projector",
                projected,
                _each(t[0] for t in trials),
                f"{projected_rows:,}",
                _same(trials),
            ],
        ],
    )
    print(f"\nratio: projector / raw upserts = {projected / raw:.2f} (target >= 0.50)")


def _same(trials: list[tuple[float, float, bool]]) -> str:
    return "yes" if all(same for _, _, same in trials) else "NO"


def _each(values: Iterable[float]) -> str:
    return " ".join(f"{v:,.0f}" for v in values)

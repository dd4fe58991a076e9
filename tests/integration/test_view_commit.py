"""A view's batch in one round trip: rows all in memory, folded first, written with the
checkpoint only while the checkpoint is where those rows were cached.

A projector of the ledger's ``balances`` view is driven by hand here, on the app's own
pool, checkpoints and log (the app's own ``balances`` consumer is paused, so it writes
nothing meanwhile)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg import sql

from app.relay.checkpoints import STILL_AT, Checkpoints
from app.relay.consumer import HandlerFailed, PositionMoved
from app.runtime import Runtime
from app.sdk.service import Service
from app.views.projector import ViewProjector
from tests.support import ledger
from tests.support.consumers import caught_up


class CountingCheckpoints(Checkpoints):
    """The real checkpoints, counting the batches committed in one round trip."""

    at_once = 0

    async def commit_at(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.at_once += 1
        return await super().commit_at(*args, **kwargs)


@pytest.fixture
def service() -> Service:
    return ledger.service


def projector(runtime: Runtime) -> tuple[ViewProjector, CountingCheckpoints]:
    checkpoints = CountingCheckpoints(runtime.pool)
    view = ledger.service.view_types["balances"]
    made = ViewProjector(
        view,
        ledger.service,
        pool=runtime.pool,
        checkpoints=checkpoints,
        event_log=runtime.log,
        cache_size=1000,
    )
    return made, checkpoints


async def command(http: httpx.AsyncClient, path: str, body: dict) -> None:
    response = await http.post(f"/entities/{path}", json=body)
    assert response.status_code == 200, response.text


async def head(runtime: Runtime) -> int:
    """The log's head once every event committed so far is numbered (one snapshot)."""
    while True:
        async with runtime.pool.connection() as conn:
            query = "SELECT COALESCE(max(seq), 0), (SELECT count(*) FROM outbox) FROM events"
            seq, waiting = await (await conn.execute(query)).fetchone()  # type: ignore[misc]
        if waiting == 0:
            return int(seq)
        await asyncio.sleep(0.01)


async def apply(made: ViewProjector, runtime: Runtime, after: int, upto: int) -> None:
    rows = await runtime.log.read_range(made.name, after, upto, made.log_types)
    await made.process(after, upto, rows)


def stored(db: psycopg.Connection) -> dict[str, int]:
    rows = db.execute("SELECT account_id, balance FROM test_balances").fetchall()
    return dict(rows)


def position(db: psycopg.Connection) -> tuple[int, int]:
    row = db.execute(
        "SELECT position, generation FROM checkpoints WHERE name = 'balances'"
    ).fetchone()
    assert row is not None
    return row[0], row[1]


async def setup(client: httpx.AsyncClient, app: FastAPI) -> tuple[Runtime, int]:
    """Two accounts opened and their bonuses in (the ``welcome`` action), the app's own
    ``balances`` projector paused; returns the runtime and the head."""
    runtime: Runtime = app.state.runtime
    await command(client, "account/a1/open", {"owner": "Ada"})
    await command(client, "account/a2/open", {"owner": "Bob"})
    await caught_up(client, "welcome")
    await caught_up(client, "balances")
    assert (await client.post("/consumers/balances/pause")).status_code == 200
    return runtime, await head(runtime)


async def warmed(
    client: httpx.AsyncClient, app: FastAPI, *deposits: tuple[str, int]
) -> tuple[Runtime, ViewProjector, CountingCheckpoints, int]:
    """``setup``, ``deposits`` made, and a projector of ours that applied them from the
    table (their accounts' rows now in memory); its position is returned last."""
    runtime, start = await setup(client, app)
    made, checkpoints = projector(runtime)
    for account, amount in deposits:
        await command(client, f"account/{account}/deposit", {"amount": amount})
    first = await head(runtime)
    await apply(made, runtime, start, first)
    return runtime, made, checkpoints, first


async def test_a_batch_whose_rows_are_in_memory_commits_them_with_the_checkpoint_at_once(
    client: httpx.AsyncClient, app: FastAPI, db: psycopg.Connection
) -> None:
    runtime, start = await setup(client, app)
    made, checkpoints = projector(runtime)
    await command(client, "account/a1/deposit", {"amount": 10})
    first = await head(runtime)
    # Cold: nothing in memory, so the rows are loaded in a transaction of several trips.
    made._cached_at = None
    db.execute("UPDATE checkpoints SET position = %s WHERE name = 'balances'", [start])
    await apply(made, runtime, start, first)
    assert checkpoints.at_once == 0
    assert position(db)[0] == first

    await command(client, "account/a1/deposit", {"amount": 5})
    await command(client, "account/a1/withdraw", {"amount": 3})
    second = await head(runtime)
    await apply(made, runtime, first, second)  # warm: at once
    assert checkpoints.at_once == 1
    assert position(db)[0] == second
    assert stored(db)["a1"] == ledger.BONUS + 10 + 5 - 3


async def test_a_checkpoint_moved_meanwhile_writes_nothing_and_drops_the_rows_in_memory(
    client: httpx.AsyncClient, app: FastAPI, db: psycopg.Connection
) -> None:
    runtime, made, checkpoints, first = await warmed(client, app, ("a1", 10), ("a2", 1))
    before = stored(db)

    await command(client, "account/a2/deposit", {"amount": 7})
    second = await head(runtime)
    db.execute("UPDATE checkpoints SET position = %s WHERE name = 'balances'", [second])
    with pytest.raises(PositionMoved):  # an operator's skip, say, or another leader
        await apply(made, runtime, first, second)
    assert checkpoints.at_once == 1
    assert stored(db) == before, "nothing written"
    assert position(db)[0] == second
    assert made._cached_at is None and not made._rows, "the rows in memory dropped"


async def test_a_table_rebuilt_meanwhile_writes_nothing(
    client: httpx.AsyncClient, app: FastAPI, db: psycopg.Connection
) -> None:
    runtime, made, checkpoints, first = await warmed(client, app, ("a1", 10))
    before = stored(db)

    await command(client, "account/a1/deposit", {"amount": 4})
    second = await head(runtime)
    # A rebuilt table swapped in at the same position: the rows in memory are the old
    # table's, so nothing may be written from them.
    db.execute("UPDATE checkpoints SET generation = generation + 1 WHERE name = 'balances'")
    with pytest.raises(PositionMoved):
        await apply(made, runtime, first, second)
    assert stored(db) == before
    assert position(db)[0] == first

    await apply(made, runtime, first, second)  # again, from the table: several trips
    assert checkpoints.at_once == 1
    assert stored(db)["a1"] == before["a1"] + 4
    assert position(db)[0] == second


async def test_a_failing_handler_in_memory_is_found_again_from_the_stored_rows(
    client: httpx.AsyncClient, app: FastAPI, db: psycopg.Connection
) -> None:
    runtime, made, checkpoints, first = await warmed(client, app, ("a1", 1))

    await command(client, "account/a1/deposit", {"amount": 6})
    await command(client, "account/a1/deposit", {"amount": ledger.POISON})
    second = await head(runtime)
    with pytest.raises(HandlerFailed, match="unlucky"):
        await apply(made, runtime, first, second)
    assert checkpoints.at_once == 0, "a handler failed in memory: redone in a transaction"
    assert stored(db)["a1"] == ledger.BONUS + 1 + 6, "the event before it applied"
    assert position(db)[0] == second - 1


@pytest.mark.parametrize(
    ("column", "keys"),
    [("bigint", [1, 2**40]), ("uuid", [uuid.uuid4(), uuid.uuid4()]), ("text", ["a", "b'c"])],
)
async def test_rows_deleted_at_once_whatever_their_key_type(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: psycopg.Connection,
    column: str,
    keys: list[object],
) -> None:
    """The keys of each type a view's table may have reach their rows, bound as parameters
    of a pipelined statement."""
    runtime, start = await setup(client, app)
    db.execute(f"CREATE TABLE scratch (k {column} PRIMARY KEY, n integer)")
    db.execute("INSERT INTO scratch SELECT unnest(%s::" + column + "[]), 1", [[*keys]])
    delete = sql.SQL("DELETE FROM scratch WHERE k = ANY(%(doomed)s) AND {}").format(STILL_AT)
    generation = position(db)[1]
    effects = [(delete, {"doomed": keys[:1]})]
    assert not await runtime.checkpoints.commit_at("balances", start - 1, generation, 99, effects)
    assert db.execute("SELECT count(*) FROM scratch").fetchone() == (2,), "guarded: untouched"
    assert await runtime.checkpoints.commit_at("balances", start, generation, start, effects)
    assert db.execute("SELECT k FROM scratch").fetchall() == [(keys[1],)]


async def test_an_effect_that_fails_leaves_nothing_written_and_the_checkpoint_where_it_was(
    client: httpx.AsyncClient, app: FastAPI, db: psycopg.Connection
) -> None:
    """The pipelined statements are one transaction: a write before the failing one is
    rolled back with it, and the checkpoint does not move."""
    runtime, start = await setup(client, app)
    db.execute("CREATE TABLE scratch (k integer PRIMARY KEY)")
    generation = position(db)[1]
    write = sql.SQL("INSERT INTO scratch SELECT 1 WHERE {}").format(STILL_AT)
    fail = sql.SQL("SELECT 1 / (count(*) - count(*)) FROM scratch WHERE {}").format(STILL_AT)
    with pytest.raises(psycopg.errors.DivisionByZero):
        await runtime.checkpoints.commit_at(
            "balances", start, generation, start + 5, [(write, {}), (fail, {})]
        )
    assert db.execute("SELECT count(*) FROM scratch").fetchone() == (0,)
    assert position(db)[0] == start
    assert await runtime.checkpoints.commit_at("balances", start, generation, start, [(write, {})])
    assert db.execute("SELECT count(*) FROM scratch").fetchone() == (1,), (
        "the pool's connection works"
    )


async def test_an_effect_refused_before_it_is_sent_leaves_nothing_written_either(
    client: httpx.AsyncClient, app: FastAPI, db: psycopg.Connection
) -> None:
    """An error raised in this process midway (a value psycopg cannot send; a task cancelled
    at shutdown) must not commit the statements already sent, without the advance."""
    runtime, start = await setup(client, app)
    db.execute("CREATE TABLE scratch (k integer PRIMARY KEY, v text)")
    generation = position(db)[1]
    write = sql.SQL("INSERT INTO scratch SELECT 1, 'a' WHERE {}").format(STILL_AT)
    refused = sql.SQL("INSERT INTO scratch SELECT 2, %(text)s WHERE {}").format(STILL_AT)
    with pytest.raises(psycopg.DataError):
        await runtime.checkpoints.commit_at(
            "balances", start, generation, start + 5, [(write, {}), (refused, {"text": "a\x00"})]
        )
    assert db.execute("SELECT count(*) FROM scratch").fetchone() == (0,)
    assert position(db)[0] == start

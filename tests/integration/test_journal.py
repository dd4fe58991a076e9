"""The journal and the command runner against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import psycopg
import pytest
from psycopg.types.json import Jsonb

from app.journal.commands import CommandRequest, CommandRunner
from app.journal.errors import CommandRejected, ContentionExhausted, VersionMismatch
from app.journal.settings import CommandSettings
from app.services.ward import service as ward
from app.services.ward.patient import Admit, Discharge, PatientState, RecordVitals
from tests.support import bank
from tests.support.db import table_counts
from tests.support.runners import runner_on
from tests.support.ward import ADMIT, vitals


def admit(patient_id: str, **extra: object) -> CommandRequest:
    return CommandRequest("patient", patient_id, "admit", Admit(**ADMIT), **extra)  # type: ignore[arg-type]


def record(patient_id: str, pulse: int = 80, **extra: object) -> CommandRequest:
    body = RecordVitals(**vitals(pulse=pulse))
    return CommandRequest("patient", patient_id, "record-vitals", body, **extra)  # type: ignore[arg-type]


async def test_append_writes_events_outbox_and_idempotency_together(
    database_url: str, db: psycopg.Connection
) -> None:
    async with runner_on(database_url, ward) as runner:
        await runner.run(admit("p1", idempotency_key="k1"))
    rows = db.execute(
        "SELECT e.version, e.type, e.metadata->>'command' FROM events e "
        "JOIN outbox o ON o.event_row_id = e.id"
    ).fetchall()
    assert rows == [(1, "PatientAdmitted", "admit")]
    assert table_counts(db)["command_log"] == 1


async def test_entity_with_1000_events_loads_from_its_snapshot(database_url: str) -> None:
    settings = CommandSettings(snapshot_every=100, cache_size=0)
    async with runner_on(database_url, ward, settings) as runner:
        await runner.run(admit("long"))
        for index in range(999):
            await runner.run(record("long", pulse=40 + index % 100))
        loaded = await runner.load(ward.entity_types["patient"], "long")
    assert loaded.version == 1000
    assert loaded.snapshot_version == 1000
    assert loaded.events_read == 0
    assert isinstance(loaded.state, PatientState)
    assert loaded.state.vitals_recorded == 999
    assert loaded.state.latest_vitals is not None
    assert loaded.state.latest_vitals.pulse == 40 + 998 % 100


async def test_load_reads_only_the_events_after_the_snapshot(
    database_url: str, db: psycopg.Connection
) -> None:
    settings = CommandSettings(snapshot_every=10, cache_size=0)
    async with runner_on(database_url, ward, settings) as runner:
        await runner.run(admit("p1"))
        for _ in range(13):
            await runner.run(record("p1"))
        loaded = await runner.load(ward.entity_types["patient"], "p1")
        assert (loaded.version, loaded.snapshot_version, loaded.events_read) == (14, 10, 4)
        assert loaded.state.vitals_recorded == 13

        # A snapshot taken under another state model is ignored, not misread.
        db.execute("UPDATE snapshots SET state_schema = 'older-model'")
        refolded = await runner.load(ward.entity_types["patient"], "p1")
        assert (refolded.snapshot_version, refolded.events_read) == (None, 14)
        assert refolded.state == loaded.state


async def test_stored_v1_event_is_read_back_as_v2(
    database_url: str, db: psycopg.Connection
) -> None:
    db.execute(
        "INSERT INTO events (event_id, entity_type, entity_id, version, type, schema_version, data)"
        " VALUES (%s, 'account', 'a1', 1, 'AccountOpened', 1, %s)",
        [uuid.uuid4(), Jsonb({"owner": "Grace"})],
    )
    async with runner_on(database_url, bank.service) as runner:
        loaded = await runner.load(bank.account, "a1")
        assert loaded.state == bank.Account(open=True, owner="Grace", currency="EUR")
        outcome = await runner.run(
            CommandRequest("account", "a1", "deposit", bank.Deposit(amount=5))
        )
    assert outcome.result.version == 2
    stored = db.execute("SELECT schema_version FROM events ORDER BY version").fetchall()
    assert stored == [(1,), (1,)]  # the old event stays as written; new ones carry their version


async def test_fifty_concurrent_commands_to_one_entity_all_land(database_url: str) -> None:
    async with runner_on(database_url, ward, pool_size=10) as runner:
        await runner.run(admit("busy"))
        outcomes = await asyncio.gather(*(runner.run(record("busy", 50 + i)) for i in range(50)))
    assert sorted(o.result.version for o in outcomes) == list(range(2, 52))


async def test_lost_race_is_retried_against_fresh_state(
    database_url: str, db: psycopg.Connection
) -> None:
    """Two runners are two processes: separate caches, one database."""
    async with runner_on(database_url, ward) as one, runner_on(database_url, ward) as two:
        await one.run(admit("p1"))
        await two.run(record("p1"))  # two's cache now says version 2
        await one.run(record("p1"))  # one's cache said version 1: it loses, reloads, appends 3
        outcome = await two.run(record("p1"))  # two's cache is stale the same way
    assert outcome.result.version == 4
    versions = db.execute("SELECT version FROM events ORDER BY version").fetchall()
    assert [v for (v,) in versions] == [1, 2, 3, 4]


async def test_rejection_from_a_stale_cache_is_rechecked(database_url: str) -> None:
    async with runner_on(database_url, ward) as one, runner_on(database_url, ward) as two:
        with pytest.raises(CommandRejected):
            await one.run(record("p1"))  # one caches "not admitted"
        await two.run(admit("p1"))
        outcome = await one.run(record("p1"))  # must not trust the cached "not admitted"
    assert outcome.result.version == 2


async def test_if_match_lost_race_is_409_not_retried(database_url: str) -> None:
    async with runner_on(database_url, ward) as one, runner_on(database_url, ward) as two:
        await one.run(admit("p1"))
        await two.run(record("p1"))
        with pytest.raises(VersionMismatch) as mismatch:
            await one.run(record("p1", expected_version=1))
    assert mismatch.value.current == 2


async def test_racing_processes_keep_versions_gapless(
    database_url: str, db: psycopg.Connection
) -> None:
    async with (
        runner_on(database_url, ward, pool_size=6) as one,
        runner_on(database_url, ward, pool_size=6) as two,
    ):
        await one.run(admit("hot"))
        work = [runner.run(record("hot")) for runner in (one, two) for _ in range(30)]
        outcomes = await asyncio.gather(*work)
    assert sorted(o.result.version for o in outcomes) == list(range(2, 62))
    versions = [v for (v,) in db.execute("SELECT version FROM events ORDER BY version")]
    assert versions == list(range(1, 62))


async def test_contention_beyond_the_retry_bound_is_reported(database_url: str) -> None:
    settings = CommandSettings(retries=0)
    async with runner_on(database_url, ward, settings) as one, runner_on(database_url, ward) as two:
        await one.run(admit("p1"))
        await two.run(record("p1"))
        with pytest.raises(ContentionExhausted):
            await one.run(record("p1"))


async def test_racing_idempotent_requests_append_once(
    database_url: str, db: psycopg.Connection
) -> None:
    async with runner_on(database_url, ward) as one, runner_on(database_url, ward) as two:
        await one.run(admit("p1"))
        await two.load(ward.entity_types["patient"], "p1")
        same = [runner.run(record("p1", idempotency_key="same")) for runner in (one, two)]
        first, second = await asyncio.gather(*same)
    assert first.result == second.result
    assert {first.replayed, second.replayed} == {False, True}
    assert table_counts(db)["events"] == 2


def discharge(patient_id: str, **extra: object) -> CommandRequest:
    return CommandRequest("patient", patient_id, "discharge", Discharge(), **extra)  # type: ignore[arg-type]


def twin_commits_after_first_lookup(runner: CommandRunner, twin: Callable[[], Awaitable[object]]):
    """The runner's first key lookup runs (and finds nothing), then the twin request with the
    same key commits on "another process" before this runner decides: the chaos run's race
    (a client's timed-out request and its retry on a second server), made deterministic."""
    real_find = runner.journal.find_command
    calls = 0

    async def find_command(scope: str, key: str, ttl: float):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        found = await real_find(scope, key, ttl)
        if calls == 1:
            assert found is None
            await twin()
        return found

    runner.journal.find_command = find_command  # type: ignore[method-assign]


@pytest.mark.parametrize("cached", [False, True], ids=["fresh-load", "stale-cache"])
@pytest.mark.parametrize("command", ["admit", "discharge"])
async def test_a_key_raced_by_its_twin_answers_the_stored_reply_not_a_rejection(
    database_url: str, db: psycopg.Connection, command: str, cached: bool
) -> None:
    """Re-deciding admit (or discharge) on the state the twin made is a rejection ("already
    admitted"); the request must answer the twin's stored reply instead, and append nothing."""
    request = (admit if command == "admit" else discharge)("p1", idempotency_key="k1")
    async with runner_on(database_url, ward) as late, runner_on(database_url, ward) as twin:
        if command == "discharge":
            await twin.run(admit("p1"))
        if cached:  # the late runner's cache holds the state before the twin's command
            await late.load(ward.entity_types["patient"], "p1")
        first: list[object] = []

        async def run_twin() -> None:
            first.append(await twin.run(request))

        twin_commits_after_first_lookup(late, run_twin)
        outcome = await late.run(request)
    assert outcome.replayed
    assert outcome.result == first[0].result  # type: ignore[attr-defined]
    assert table_counts(db)["events"] == (1 if command == "admit" else 2)


async def test_a_rejection_with_a_key_nobody_used_is_still_a_rejection(database_url: str) -> None:
    async with runner_on(database_url, ward) as runner:
        await runner.run(admit("p1"))
        with pytest.raises(CommandRejected):
            await runner.run(admit("p1", idempotency_key="fresh-key"))

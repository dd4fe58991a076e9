"""A chaos run: several `sluice serve` processes on one PostgreSQL, killed and restarted at
random, the database stopped once, clients retrying with the same Idempotency-Keys (now and
then at two processes at once), a webhook receiver failing a share of its requests, WebSocket
clients following the log through it all. Then: is everything that was acknowledged in the
log exactly once, and does every consumer agree with the log?

    python -m tests.support.chaos [--seconds 600] [--seed 7] [--processes 3]

The test suite runs a short one (tests/e2e/test_chaos.py); this runs a longer one, and its
seed replays the same schedule of faults and commands (timings still vary).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import websockets
from psycopg.rows import dict_row

from app.db.migrate import upgrade
from app.sdk.view import EventMeta
from app.services.ward import service as ward
from app.services.ward import service as ward_service
from app.views.schema import migrations_branch
from tests.support.auth import AUTH_HEADERS
from tests.support.own_database import OwnDatabase, server_home
from tests.support.receiver import Received
from tests.support.servers import SluiceProcess, free_port
from tests.support.sockets import ws_url
from tests.support.ward import ADMIT, vitals
from tests.support.webhooks import WebhookReceiver

ACK_SECONDS = 3.0  # SLUICE_WARD_ACK_MINUTES: unacknowledged alerts escalate by timer
ALARMING = vitals(respiration_rate=24, spo2=93, systolic_bp=105, pulse=112, temperature=38.4)
WORRYING = vitals(respiration_rate=22, spo2=94, systolic_bp=108, pulse=98, temperature=37.2)
RETRYABLE = {502, 503, 504}


@dataclass
class Findings:
    """What the run saw; ``problems`` must be empty at the end."""

    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> reply
    attempts: Counter[str] = field(default_factory=Counter)
    twin_races: int = 0
    kills: int = 0
    terms: int = 0
    outages: int = 0
    socket_reconnects: int = 0
    webhook_failures_served: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(text)


class Cluster:
    """The processes, their ports kept across restarts."""

    def __init__(self, database: OwnDatabase, workdir: Path, count: int, env: dict[str, str]):
        self.database = database
        self.workdir = workdir
        self.env = {"DATABASE_URL": database.url, **env}
        self.ports = [free_port() for _ in range(count)]
        self.processes: dict[int, SluiceProcess] = {}
        self.ready: set[int] = set()

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports if port in self.ready]

    async def start(self, port: int) -> None:
        previous = self.processes.get(port)
        if previous is not None:
            previous.close()
        process = SluiceProcess(self.env, self.workdir, port=port)
        self.processes[port] = process
        await asyncio.to_thread(process.wait_ready, 90)
        self.ready.add(port)

    async def kill(self, port: int) -> None:
        self.ready.discard(port)
        process = self.processes[port]
        await asyncio.to_thread(process.kill)

    async def terminate(self, port: int) -> None:
        self.ready.discard(port)
        process = self.processes[port]
        process.terminate()
        try:
            await asyncio.to_thread(process.process.wait, 30)
        except Exception:
            await asyncio.to_thread(process.kill)

    def close(self) -> None:
        for process in self.processes.values():
            process.close()


class Chaos:
    def __init__(self, *, seconds: float, seed: int, processes: int, workdir: Path) -> None:
        self.seconds = seconds
        self.random = random.Random(seed)
        self.seed = seed
        self.count = processes
        self.workdir = workdir
        self.findings = Findings()
        self.stop_clients = asyncio.Event()
        self.sockets: list[list[int]] = []
        self.socket_tasks: list[asyncio.Task[None]] = []
        self._webhook_attempts: Counter[str] = Counter()

    # -- the run ----------------------------------------------------------------------------------
    async def run(self) -> Findings:
        with server_home("chaos") as home:
            return await self._run(OwnDatabase(home / "pg", name="chaos"))

    async def _run(self, database: OwnDatabase) -> Findings:
        upgrade(database.url, migrations_branch(ward_service))
        env = {
            "SLUICE_RELAY_POLL_SECONDS": "0.2",
            "SLUICE_LEADER_RETRY_SECONDS": "0.5",
            "SLUICE_DB_TIMEOUT_SECONDS": "2",
            "SLUICE_CONSUMER_BACKOFF_MAX_SECONDS": "1",
            "SLUICE_WEBHOOK_ALLOW_PRIVATE": "true",
            "SLUICE_WEBHOOK_RETRY_SCHEDULE": "0.2,0.5,1,1,1,1,1",
            "SLUICE_WEBHOOK_TIMEOUT_SECONDS": "2",
            "SLUICE_WARD_ACK_MINUTES": str(ACK_SECONDS / 60),
            "SLUICE_ACCESS_LOG": "false",
            "SLUICE_POOL_MIN_SIZE": "2",
            "SLUICE_AUTH_FAILURES_BURST": "1000",
        }
        cluster = Cluster(database, self.workdir, self.count, env)
        try:
            async with WebhookReceiver(plan=self._receiver_plan) as receiver:
                for port in cluster.ports:  # one at a time: the first one migrates
                    await cluster.start(port)
                async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=10) as http:
                    hook = await http.post(
                        f"{cluster.urls()[0]}/webhooks",
                        json={"url": receiver.url, "event_types": ["alert.*"]},
                    )
                    assert hook.status_code == 201, hook.text
                    webhook_id = hook.json()["id"]
                    await self._storm(cluster, http)
                    await self._settle(cluster, http, webhook_id)
                await self._check(database, receiver)
        finally:
            cluster.close()
            database.server.cleanup()
        return self.findings

    async def _storm(self, cluster: Cluster, http: httpx.AsyncClient) -> None:
        clients = [asyncio.create_task(self._client(cluster, http, n)) for n in range(6)]
        sockets = [asyncio.create_task(self._socket(cluster, n)) for n in range(3)]
        await self._faults(cluster)
        self.stop_clients.set()
        await asyncio.gather(*clients)
        for port in cluster.ports:  # every process back for the end
            if port not in cluster.ready:
                await cluster.start(port)
        self.socket_tasks = sockets

    async def _faults(self, cluster: Cluster) -> None:
        """Kill -9 or SIGTERM a random process every few seconds and bring it back; stop
        PostgreSQL once, about a third of the way in. It goes on past ``seconds`` until it has
        done two kills and a SIGTERM: a slow box restarts processes slowly, and a run that
        ends with fewer would have tested less than it claims."""
        started = time.monotonic()
        outage_at = started + self.seconds * self.random.uniform(0.25, 0.45)
        findings = self.findings
        while time.monotonic() - started < self.seconds or findings.kills < 2 or not findings.terms:
            await asyncio.sleep(self.random.uniform(1.0, 3.0))
            if self.findings.outages == 0 and time.monotonic() >= outage_at:
                await self._outage(cluster.database)
                continue
            port = self.random.choice(cluster.ports)
            if port not in cluster.ready:
                continue
            sigterm_due = self.findings.terms == 0 and self.findings.kills >= 1
            if self.random.random() < 0.7 and not sigterm_due:
                await cluster.kill(port)
                self.findings.kills += 1
            else:
                await cluster.terminate(port)
                self.findings.terms += 1
            await asyncio.sleep(self.random.uniform(0.5, 2.0))
            await cluster.start(port)

    async def _outage(self, database: OwnDatabase) -> None:
        await asyncio.to_thread(database.stop)
        self.findings.outages += 1
        await asyncio.sleep(self.random.uniform(3.0, 6.0))
        await asyncio.to_thread(database.start)

    # -- clients -----------------------------------------------------------------------------------
    async def _client(self, cluster: Cluster, http: httpx.AsyncClient, number: int) -> None:
        rng = random.Random(self.seed * 1000 + number)
        serial = 0
        while not self.stop_clients.is_set():
            serial += 1
            patient = f"c{number}-p{serial}"
            await self._command(cluster, http, rng, patient, "admit", ADMIT)
            for _ in range(rng.randint(2, 6)):
                if self.stop_clients.is_set():
                    return
                body = rng.choice([vitals(), vitals(pulse=95), WORRYING, ALARMING])
                await self._command(cluster, http, rng, patient, "record-vitals", body)
            await self._command(cluster, http, rng, patient, "discharge", {})

    async def _command(
        self,
        cluster: Cluster,
        http: httpx.AsyncClient,
        rng: random.Random,
        patient: str,
        command: str,
        body: dict[str, Any],
    ) -> None:
        """Send until acknowledged, always with the same key: a timeout, a refused
        connection or a 503 is retried, at another process, now and then at two at once."""
        key = f"{patient}:{command}:{uuid.uuid4().hex[:8]}"
        path = f"/entities/patient/{patient}/{command}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            urls = cluster.urls()
            if not urls:
                await asyncio.sleep(0.2)
                continue
            targets = [rng.choice(urls)]
            if rng.random() < 0.15 and len(urls) > 1:
                targets = rng.sample(urls, 2)
                self.findings.twin_races += 1
            answers = await asyncio.gather(
                *(self._post(http, url + path, body, key) for url in targets)
            )
            for answer in answers:
                if answer is not None and answer.status_code == 200:
                    self._acknowledge(key, answer.json())
                elif answer is not None and answer.status_code not in RETRYABLE:
                    self.findings.problem(f"{key}: {answer.status_code} {answer.text[:200]}")
                    return
            if key in self.findings.acknowledged:
                return
            await asyncio.sleep(rng.uniform(0.05, 0.3))
        self.findings.problem(f"{key}: never acknowledged")

    async def _post(
        self, http: httpx.AsyncClient, url: str, body: dict[str, Any], key: str
    ) -> httpx.Response | None:
        self.findings.attempts[key] += 1
        try:
            return await http.post(url, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError:
            return None  # killed mid-request, refused, timed out: retry with the same key

    def _acknowledge(self, key: str, reply: dict[str, Any]) -> None:
        first = self.findings.acknowledged.setdefault(key, reply)
        if first != reply:
            self.findings.problem(f"{key}: two replies for one key: {first} vs {reply}")

    async def _socket(self, cluster: Cluster, number: int) -> None:
        """Follow the log from seq 0 through every kill, reconnecting after the last seq
        received; what it gathers must be the log itself, in order, nothing twice."""
        seqs: list[int] = []
        self.sockets.append(seqs)
        rng = random.Random(self.seed * 7 + number)
        while True:
            urls = cluster.urls()
            if not urls:
                await asyncio.sleep(0.2)
                continue
            after = seqs[-1] if seqs else 0
            try:
                url = ws_url(rng.choice(urls), f"after={after}")
                async with (
                    websockets.connect(
                        url, additional_headers=AUTH_HEADERS, open_timeout=5, max_size=2**22
                    ) as socket,
                    asyncio.timeout(rng.uniform(2, 8)),  # leave now and then, as clients do
                ):
                    async for message in socket:
                        seqs.append(json.loads(message)["seq"])
            except (OSError, websockets.WebSocketException, TimeoutError):
                pass
            self.findings.socket_reconnects += 1
            await asyncio.sleep(rng.uniform(0.1, 0.5))

    def _receiver_plan(self, request: Received) -> int:
        """Fail the first and second attempt of some deliveries (500), never a third."""
        message = request.headers.get("webhook-id", "")
        self._webhook_attempts[message] += 1
        attempt = self._webhook_attempts[message]
        fails = random.Random(f"{self.seed}:{message}:{attempt}").random() < 0.3
        if attempt <= 2 and fails:
            self.findings.webhook_failures_served += 1
            return 500
        return 200

    # -- the end -----------------------------------------------------------------------------------
    async def _settle(self, cluster: Cluster, http: httpx.AsyncClient, webhook_id: str) -> None:
        """Wait until everything due has happened: outbox empty, every consumer caught up,
        no timer left, no delivery pending, every WebSocket client at the head; twice."""
        deadline = time.monotonic() + 120
        calm = 0
        while calm < 2:
            if time.monotonic() > deadline:
                self.findings.problem(f"did not settle: {await self._state(cluster, http)}")
                break
            state = await self._state(cluster, http)
            calm = calm + 1 if state["settled"] else 0
            await asyncio.sleep(0.5)
        for task in self.socket_tasks:
            task.cancel()
        await asyncio.gather(*self.socket_tasks, return_exceptions=True)

    async def _state(self, cluster: Cluster, http: httpx.AsyncClient) -> dict[str, Any]:
        with psycopg.connect(cluster.database.url, autocommit=True) as conn:
            outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
            timers = conn.execute("SELECT count(*) FROM timers").fetchone()[0]
            pending = conn.execute(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
            ).fetchone()[0]
            head = conn.execute("SELECT COALESCE(max(seq), 0) FROM events").fetchone()[0]
        consumers = (await http.get(f"{cluster.urls()[0]}/consumers")).json()
        behind = [c["name"] for c in consumers if c["lag_events"] or c["state"] == "failing"]
        sockets_behind = [n for n, seqs in enumerate(self.sockets) if (seqs or [0])[-1] < head]
        settled = not (outbox or timers or pending or behind or sockets_behind)
        return {
            "settled": settled,
            "outbox": outbox,
            "timers": timers,
            "pending_deliveries": pending,
            "consumers_behind": behind,
            "sockets_behind": sockets_behind,
        }

    async def _check(self, database: OwnDatabase, receiver: WebhookReceiver) -> None:
        with psycopg.connect(database.url, autocommit=True, row_factory=dict_row) as conn:
            events = conn.execute(
                "SELECT seq, event_id, entity_type, entity_id, version, type, schema_version,"
                " data, metadata, recorded_at FROM events ORDER BY seq"
            ).fetchall()
            replies = conn.execute("SELECT scope, key, reply FROM command_log").fetchall()
            rejections = conn.execute("SELECT idempotency_key FROM action_rejections").fetchall()
            deliveries = conn.execute(
                "SELECT status, count(*) AS n FROM webhook_deliveries GROUP BY status"
            ).fetchall()
            views = {
                name: conn.execute(f'SELECT * FROM "{view.table.name}"').fetchall()
                for name, view in ward.view_types.items()
            }
        self._check_log(events)
        self._check_exactly_once(events, replies)
        self._check_views(events, views)
        self._check_actions(events, replies, rejections)
        self._check_timers(events)
        self._check_webhooks(events, receiver, deliveries)
        self._check_sockets(events)

    def _check_log(self, events: list[dict[str, Any]]) -> None:
        seqs = [e["seq"] for e in events]
        if seqs != list(range(1, len(seqs) + 1)):
            self.findings.problem("the log is not gapless from seq 1")
        versions: dict[tuple[str, str], list[int]] = defaultdict(list)
        for e in events:
            versions[(e["entity_type"], e["entity_id"])].append(e["version"])
        for entity, found in versions.items():
            if found != list(range(1, len(found) + 1)):
                self.findings.problem(f"{entity}: versions out of order in the log: {found}")

    def _check_exactly_once(
        self, events: list[dict[str, Any]], replies: list[dict[str, Any]]
    ) -> None:
        """Every command here carries a key, so every event belongs to exactly one stored
        reply, and every acknowledged reply is the stored one, its events in the log."""
        owner: dict[str, str] = {}
        stored: dict[str, dict[str, Any]] = {}
        for row in replies:
            stored[row["key"]] = row["reply"]
            for event in row["reply"]["events"]:
                if event["event_id"] in owner:
                    self.findings.problem(f"event {event['event_id']} in two replies")
                owner[event["event_id"]] = row["key"]
        logged = {str(e["event_id"]) for e in events}
        if logged != set(owner):
            extra, missing = logged - set(owner), set(owner) - logged
            self.findings.problem(
                f"events without a reply {len(extra)}, replied unlogged {len(missing)}"
            )
        for key, reply in self.findings.acknowledged.items():
            if stored.get(key) != reply:
                self.findings.problem(f"{key}: acknowledged {reply}, stored {stored.get(key)}")

    def _check_views(
        self, events: list[dict[str, Any]], views: dict[str, list[dict[str, Any]]]
    ) -> None:
        """Each view's table equals the fold of the whole log through its handlers."""
        for name, view in ward.view_types.items():
            expected: dict[Any, Any] = {}
            for stored in events:
                event, meta = _typed(stored)
                handler = view.handlers.get(type(event))
                if handler is None:
                    continue
                key = handler.key(event, meta)
                row = handler.handler(expected.get(key), event, meta)
                if row is None:
                    expected.pop(key, None)
                else:
                    expected[key] = row
            want = {str(k): row.model_dump(mode="json") for k, row in expected.items()}
            have = {
                str(row[view.key_column]): view.row_type.model_validate(row).model_dump(mode="json")
                for row in views[name]
            }
            if want != have:
                wrong = [k for k in set(want) | set(have) if want.get(k) != have.get(k)]
                self.findings.problem(f"view {name} differs from the log at {sorted(wrong)[:5]}")

    def _check_actions(
        self,
        events: list[dict[str, Any]],
        replies: list[dict[str, Any]],
        rejections: list[dict[str, Any]],
    ) -> None:
        """Every event an action acts on led to its command exactly once (stored reply or
        recorded rejection), and to nothing else."""
        from app.actions.runner import command_key

        for name, action in ward.action_types.items():
            expected = set()
            for stored in events:
                event, meta = _typed(stored)
                if type(event) in action.handlers:
                    for index, _ in enumerate(action.effects(event, meta)):
                        expected.add(command_key(name, meta.event_id, index))
            done = [r["key"] for r in replies if r["key"].startswith(f"{name}:")]
            refused = [r["idempotency_key"] for r in rejections]
            refused = [key for key in refused if key.startswith(f"{name}:")]
            if Counter(done + refused) != Counter(expected):
                self.findings.problem(
                    f"action {name}: {len(expected)} commands due, {len(done)} run,"
                    f" {len(refused)} refused"
                )

    def _check_timers(self, events: list[dict[str, Any]]) -> None:
        """Alerts nobody acknowledges escalate by timer once per episode, if still open
        when the timer fell due (episodes that ended close to it are not judged)."""
        by_alert: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in events:
            if e["entity_type"] == "alert":
                by_alert[e["entity_id"]].append(e)
        for alert_id, history in by_alert.items():
            due = None
            escalated_in_episode = 0
            for e in history:
                at = e["recorded_at"]
                if e["type"] == "AlertRaised":
                    due, escalated_in_episode = at + timedelta(seconds=ACK_SECONDS), 0
                elif e["type"] == "AlertEscalated" and e["data"]["reason"] == "risk-increased":
                    due = at + timedelta(seconds=ACK_SECONDS)
                elif e["type"] == "AlertEscalated":
                    escalated_in_episode += 1
                    if escalated_in_episode > 1:
                        self.findings.problem(f"alert {alert_id}: escalated twice by timer")
                elif e["type"] == "AlertResolved":
                    late = due is not None and at - due > timedelta(seconds=2)
                    if late and not escalated_in_episode:
                        self.findings.problem(f"alert {alert_id}: its timer never fired")
                    due = None
            if due is not None and not escalated_in_episode:
                self.findings.problem(f"alert {alert_id}: open, unacknowledged, not escalated")

    def _check_webhooks(
        self,
        events: list[dict[str, Any]],
        receiver: WebhookReceiver,
        deliveries: list[dict[str, Any]],
    ) -> None:
        wanted = {str(e["event_id"]) for e in events if e["entity_type"] == "alert"}
        received = {r.headers.get("webhook-id") for r in receiver.delivered()}
        if wanted - received:
            self.findings.problem(
                f"webhooks: {len(wanted - received)} alert events never delivered"
            )
        if received - wanted:
            self.findings.problem("webhooks: delivered events that are not alert events")
        statuses = {row["status"]: row["n"] for row in deliveries}
        if set(statuses) - {"succeeded"}:
            self.findings.problem(f"webhooks: deliveries not all succeeded: {statuses}")

    def _check_sockets(self, events: list[dict[str, Any]]) -> None:
        head = len(events)
        for number, seqs in enumerate(self.sockets):
            if seqs != list(range(1, head + 1)):
                dupes = len(seqs) - len(set(seqs))
                self.findings.problem(
                    f"socket {number}: {len(seqs)} events received of {head}, {dupes} twice"
                )


def _typed(stored: dict[str, Any]) -> tuple[Any, EventMeta]:
    entity = ward.entity_types[stored["entity_type"]]
    event = entity.event_from_stored(stored["type"], stored["schema_version"], stored["data"])
    meta = EventMeta(
        seq=stored["seq"],
        event_id=stored["event_id"],
        entity_type=stored["entity_type"],
        entity_id=stored["entity_id"],
        version=stored["version"],
        recorded_at=stored["recorded_at"],
        metadata=stored["metadata"],
    )
    return event, meta


def report(findings: Findings, seconds: float) -> str:
    lines = [
        f"chaos: {len(findings.acknowledged)} commands acknowledged in {seconds:.0f} s,"
        f" {sum(findings.attempts.values())} attempts, {findings.twin_races} raced at two"
        f" processes; {findings.kills} kill -9, {findings.terms} SIGTERM,"
        f" {findings.outages} database outage; {findings.socket_reconnects} socket reconnects;"
        f" {findings.webhook_failures_served} webhook attempts failed on purpose",
    ]
    lines += [f"  PROBLEM: {problem}" for problem in findings.problems] or ["  no problem found"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.chaos")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--seed", type=int, default=random.randrange(1_000_000))
    parser.add_argument("--processes", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"chaos: seed {args.seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sluice-chaos-") as workdir:
        chaos = Chaos(
            seconds=args.seconds, seed=args.seed, processes=args.processes, workdir=Path(workdir)
        )
        started = time.monotonic()
        findings = asyncio.run(chaos.run())
        print(report(findings, time.monotonic() - started))
    return 1 if findings.problems else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        sys.exit(main())

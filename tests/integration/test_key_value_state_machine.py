"""Key-value entities under random commands on a real server: the value read back is always
the last write (or 404 after a delete), the version counts the changes, and of concurrent
writes that name the same version with If-Match exactly one wins and the rest get 409."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from app.main import create_app
from app.settings import Settings
from tests.support import flows
from tests.support.auth import AUTH_HEADERS
from tests.support.servers import uvicorn_in_thread

KEYS = 3
texts = st.text(alphabet="abcxyz", min_size=1, max_size=4)
tags = st.lists(st.sampled_from(["red", "blue"]), max_size=2)


@dataclass
class Key:
    value: dict[str, Any] | None = None
    version: int = 0
    changes: list[str] = field(default_factory=list)  # the log's types, in order


class NoteMachine(RuleBasedStateMachine):
    http: httpx.Client

    def __init__(self) -> None:
        super().__init__()
        run = uuid.uuid4().hex[:8]
        self.keys = {f"{run}-{n}": Key() for n in range(KEYS)}

    def post(self, key: str, command: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.post(f"/entities/note/{key}/{command}", json=body, headers=headers)

    def changed(self, key: str, value: dict[str, Any] | None) -> None:
        model = self.keys[key]
        if value == model.value:
            return  # unchanged: nothing written
        model.value, model.version = value, model.version + 1
        model.changes.append("Deleted" if value is None else "StateChanged")

    @rule(
        n=st.integers(0, KEYS - 1),
        text=texts,
        labels=tags,
        match=st.sampled_from(["", "now", "stale"]),
    )
    def set(self, n: int, text: str, labels: list[str], match: str) -> None:
        key = list(self.keys)[n]
        model = self.keys[key]
        headers = {}
        if match:
            version = model.version if match == "now" else model.version + 1
            headers["If-Match"] = f'"{version}"'
        answer = self.post(key, "set", {"text": text, "tags": labels}, **headers)
        if match == "stale":
            assert answer.status_code == 409, answer.text
            assert answer.json()["current_version"] == model.version
            return
        assert answer.status_code == 200, answer.text
        self.changed(key, {"text": text, "tags": labels})
        assert answer.json()["version"] == model.version

    @rule(n=st.integers(0, KEYS - 1), label=st.sampled_from(["red", "green"]))
    def tag(self, n: int, label: str) -> None:
        key = list(self.keys)[n]
        model = self.keys[key]
        answer = self.post(key, "tag", {"tag": label})
        if model.value is None:
            assert answer.status_code == 409
            return
        assert answer.status_code == 200, answer.text
        self.changed(key, {**model.value, "tags": [*model.value["tags"], label]})

    @rule(n=st.integers(0, KEYS - 1))
    def drop(self, n: int) -> None:
        key = list(self.keys)[n]
        had = self.keys[key].value is not None
        answer = self.post(key, "drop", {})
        assert answer.status_code == 200 and answer.json()["reply"] == {"had": had}
        self.changed(key, None)

    @rule(n=st.integers(0, KEYS - 1), writers=st.integers(2, 6))
    def race(self, n: int, writers: int) -> None:
        """Writers that all read the same version: one wins, the others are told 409."""
        key = list(self.keys)[n]
        model = self.keys[key]
        match = {"If-Match": f'"{model.version}"'}
        race = uuid.uuid4().hex[:6]  # values unlike the current one: each would be a change
        bodies = [{"text": f"{race}-{w}", "tags": []} for w in range(writers)]
        with ThreadPoolExecutor(writers) as pool:
            answers = list(pool.map(lambda body: self.post(key, "set", body, **match), bodies))
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [200] + [409] * (writers - 1), [a.text for a in answers]
        winner = next(body for body, a in zip(bodies, answers, strict=True) if a.status_code == 200)
        self.changed(key, winner)

    @rule(n=st.integers(0, KEYS - 1), text=texts)
    def retried(self, n: int, text: str) -> None:
        """The same Idempotency-Key twice: one write, the same reply."""
        key = list(self.keys)[n]
        idempotency = {"Idempotency-Key": uuid.uuid4().hex}
        first = self.post(key, "set", {"text": text, "tags": ["again"]}, **idempotency)
        second = self.post(key, "set", {"text": text, "tags": ["again"]}, **idempotency)
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()
        self.changed(key, {"text": text, "tags": ["again"]})

    @invariant()
    def reads_the_last_write(self) -> None:
        for key, model in self.keys.items():
            answer = self.http.get(f"/entities/note/{key}")
            if model.value is None:
                assert answer.status_code == 404, answer.text
                continue
            assert answer.status_code == 200, answer.text
            assert answer.json()["state"] == model.value
            assert answer.json()["version"] == model.version
            events = self.http.get(f"/entities/note/{key}/events").json()["events"]
            assert [event["type"].split(".")[1] for event in events] == model.changes


def test_key_value_reads_are_the_last_write(settings: Settings, database_url: str) -> None:
    app = create_app(settings, service=flows.service, database_url=database_url)
    with (
        uvicorn_in_thread(app) as url,
        httpx.Client(base_url=url, headers=AUTH_HEADERS, timeout=30) as http,
    ):

        class Machine(NoteMachine):
            pass

        Machine.http = http
        run_state_machine_as_test(
            Machine,
            settings=hypothesis_settings(
                max_examples=10,
                stateful_step_count=15,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )

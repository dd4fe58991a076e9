"""A state machine over HTTP: patients and alerts driven by random commands on a real server.

After every command the entity it targeted is read back over HTTP, and two things must hold:
its state is the fold of its own events through the entity's event handlers, and it equals an
independent model kept here, which also predicts the command's outcome (accepted, 'unchanged'
or rejected) before it is sent. Whatever is refused — a rejection, an invalid body, a stale
If-Match, an Idempotency-Key reused for another body — leaves version, events and state exactly
as they were, and a retried Idempotency-Key returns the first reply without new events.

The vitals monitor (an action) writes to alert/{patient id} in the background, so the alerts
this machine commands directly have ids no patient has (``a-…``) and stay deterministic. The
monitor's own alerts are held to the fold while it writes, and at the end of each example, once
it has caught up with every patient event, to what the model says it must have done.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.main import create_app
from app.sdk.entity import EventSourcedEntity
from app.services.ward import news2
from app.services.ward.alert import alert
from app.services.ward.patient import Vitals, patient
from app.settings import Settings
from tests.support.auth import AUTH_HEADERS
from tests.support.servers import uvicorn_in_thread
from tests.support.ward import NORMAL_VITALS

Body = dict[str, Any]
ENTITIES: dict[str, EventSourcedEntity[Any]] = {"patient": patient, "alert": alert}
RISKS = ("low-medium", "medium", "high")  # in rising order
MONITOR = "vitals-monitor"
MONITOR_WAIT_SECONDS = 15.0
MAX_ENTITIES = 3  # of each type per example: enough to interleave, few enough to revisit


# -- the model --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Accepted:
    """A predicted 200: the events it appends, by name (none: an 'unchanged' reply)."""

    events: tuple[str, ...]
    model: PatientModel | AlertModel


@dataclass(frozen=True)
class PatientModel:
    status: str = "new"
    name: str | None = None
    ward: str | None = None
    bed: str | None = None
    spo2_scale: int = 1
    latest_vitals: Body | None = None
    vitals_recorded: int = 0
    admissions: int = 0

    def decide(self, command: str, body: Body) -> Accepted | None:
        """What the patient must answer; None means it must refuse (409)."""
        if command == "admit":
            if self.status == "admitted":
                return None
            admitted = replace(
                self,
                status="admitted",
                name=body["name"],
                ward=body["ward"],
                bed=body["bed"],
                spo2_scale=body.get("spo2_scale", 1),
                latest_vitals=None,
                admissions=self.admissions + 1,
            )
            return Accepted(("PatientAdmitted",), admitted)
        if self.status != "admitted":
            return None
        if command == "record-vitals":
            recorded = replace(self, latest_vitals=body, vitals_recorded=self.vitals_recorded + 1)
            return Accepted(("VitalsRecorded",), recorded)
        if command == "transfer":
            if (body["ward"], body["bed"]) == (self.ward, self.bed):
                return None
            moved = replace(self, ward=body["ward"], bed=body["bed"])
            return Accepted(("PatientTransferred",), moved)
        assert command == "discharge", command
        return Accepted(("PatientDischarged",), replace(self, status="discharged"))


@dataclass(frozen=True)
class AlertModel:
    open: bool = False
    episode: int = 0
    ward: str | None = None
    score: int | None = None
    risk: str | None = None
    reasons: list[str] = field(default_factory=list)
    acknowledged_by: str | None = None
    escalated_unacknowledged: bool = False

    def decide(self, command: str, body: Body) -> Accepted | None:
        """What the alert must answer; None means it must refuse (409)."""
        decide: dict[str, Callable[[Body], Accepted | None]] = {
            "raise": self._raise,
            "escalate": self._escalate,
            "acknowledge": self._acknowledge,
            "resolve": self._resolve,
        }
        return decide[command](body)

    def _raise(self, body: Body) -> Accepted:
        reading = {"score": body["score"], "risk": body["risk"], "reasons": body.get("reasons", [])}
        if not self.open:
            opened = AlertModel(open=True, episode=self.episode + 1, ward=body["ward"], **reading)
            return Accepted(("AlertRaised",), opened)
        assert self.risk is not None
        if RISKS.index(body["risk"]) <= RISKS.index(self.risk):
            return Accepted((), self)
        # A higher risk needs a fresh acknowledgement, and may be escalated again if ignored.
        worse = replace(self, **reading, acknowledged_by=None, escalated_unacknowledged=False)
        return Accepted(("AlertEscalated",), worse)

    def _escalate(self, body: Body) -> Accepted:
        ignored = self.open and self.episode == body["episode"] and not self.acknowledged_by
        if not ignored or self.escalated_unacknowledged:
            return Accepted((), self)
        return Accepted(("AlertEscalated",), replace(self, escalated_unacknowledged=True))

    def _acknowledge(self, body: Body) -> Accepted | None:
        if not self.open or self.acknowledged_by is not None:
            return None
        return Accepted(("AlertAcknowledged",), replace(self, acknowledged_by=body["clinician"]))

    def _resolve(self, body: Body) -> Accepted | None:
        if not self.open:
            return Accepted((), self) if body.get("if_open", False) else None
        return Accepted(("AlertResolved",), AlertModel(episode=self.episode))


def monitor_command(model: PatientModel, command: str, body: Body) -> tuple[str, Body] | None:
    """What the vitals monitor must send to the patient's alert after an accepted command."""
    if command == "discharge":
        return "resolve", {"note": "patient discharged", "if_open": True}
    if command != "record-vitals":
        return None
    scored = news2.score(Vitals(**body), model.spo2_scale)  # the chart itself is unit-tested
    if scored.risk == "low":
        return None
    reading = {"score": scored.total, "risk": scored.risk, "reasons": scored.reasons}
    return "raise", {"ward": model.ward, **reading}


# -- strategies -------------------------------------------------------------------------------
WARDS = st.sampled_from(["W1", "W2"])
BEDS = st.sampled_from(["1", "2"])  # few places, so a transfer to where one already is happens
admit_bodies = st.fixed_dictionaries(
    {"name": st.sampled_from(["Ada", "Grace"]), "ward": WARDS, "bed": BEDS},
    optional={"spo2_scale": st.sampled_from([1, 2])},
)
# Normal readings with a few signs off, over each chart's bands: every NEWS2 risk comes up, so
# the monitor opens, escalates and leaves alone alerts (and the SpO2 scale matters: 84-96 %).
vitals_bodies = st.fixed_dictionaries(
    {},
    optional={
        "respiration_rate": st.integers(5, 30),
        "spo2": st.integers(82, 100),
        "on_oxygen": st.booleans(),
        "systolic_bp": st.integers(85, 225),
        "pulse": st.integers(38, 135),
        "consciousness": st.sampled_from("ACVPU"),
        "temperature": st.floats(34.5, 39.5).map(lambda t: round(t, 1)),
    },
).map(lambda changes: {**NORMAL_VITALS, **changes})
transfer_bodies = st.fixed_dictionaries({"ward": WARDS, "bed": BEDS})
raise_bodies = st.fixed_dictionaries(
    {"ward": WARDS, "score": st.integers(0, 20), "risk": st.sampled_from(RISKS)},
    optional={"reasons": st.lists(st.sampled_from(["pulse", "spo2", "consciousness"]), max_size=3)},
)
acknowledge_bodies = st.fixed_dictionaries({"clinician": st.sampled_from(["Dr Ng", "Sr Cole"])})
resolve_bodies = st.fixed_dictionaries(
    {}, optional={"note": st.sampled_from(["", "settled"]), "if_open": st.booleans()}
)
escalate_bodies = st.fixed_dictionaries(
    {"episode": st.integers(1, 3)}, optional={"reason": st.just("unacknowledged")}
)

INVALID_BODIES: dict[str, list[tuple[str, Any]]] = {
    "patient": [
        ("admit", {"ward": "W1", "bed": "1"}),
        ("admit", {"name": "Ada", "ward": "W1/2", "bed": "1"}),
        ("admit", {"name": "Ada", "ward": "W1", "bed": "1", "spo2_scale": 3}),
        ("admit", {"name": "Ada", "ward": "W1", "bed": "1", "colour": "red"}),
        ("record-vitals", {**NORMAL_VITALS, "spo2": 101}),
        ("record-vitals", {**NORMAL_VITALS, "consciousness": "X"}),
        ("record-vitals", {k: v for k, v in NORMAL_VITALS.items() if k != "pulse"}),
        ("transfer", {"ward": "", "bed": "1"}),
        ("discharge", {"reason": "better"}),
        ("discharge", []),
    ],
    "alert": [
        ("raise", {"ward": "W1", "score": 21, "risk": "high"}),
        ("raise", {"ward": "W1", "score": 1, "risk": "low"}),
        ("raise", {"ward": "W1", "score": 9, "risk": "high", "reasons": ["pulse"] * 21}),
        ("acknowledge", {}),
        ("acknowledge", {"clinician": ""}),
        ("resolve", {"note": "x" * 2001}),
        ("resolve", {"if_open": "perhaps"}),
        ("escalate", {"episode": 0}),
        ("escalate", {"episode": 1, "reason": "bored"}),
    ],
}

# A second, valid body for the same command: sent under a used Idempotency-Key it must be 422.
ALTERED: dict[str, Callable[[Body], Body]] = {
    "admit": lambda b: {**b, "name": b["name"] + " Jr"},
    "record-vitals": lambda b: {**b, "pulse": (b["pulse"] + 1) % 301},
    "transfer": lambda b: {**b, "bed": b["bed"] + "b"},
    "raise": lambda b: {**b, "score": (b["score"] + 1) % 21},
    "acknowledge": lambda b: {**b, "clinician": b["clinician"] + " Jr"},
    "resolve": lambda b: {**b, "note": b.get("note", "") + "!"},
    "escalate": lambda b: {**b, "episode": b["episode"] + 1},
}  # discharge has no field to alter


@dataclass(frozen=True)
class Call:
    entity_type: str
    entity_id: str
    command: str
    body: Body

    @property
    def path(self) -> str:
        return f"/entities/{self.entity_type}/{self.entity_id}/{self.command}"


def named(bodies: dict[str, st.SearchStrategy[Body]]) -> st.SearchStrategy[tuple[str, Body]]:
    """Any of these commands, as (name, body)."""
    return st.one_of(*(st.tuples(st.just(name), body) for name, body in bodies.items()))


patient_commands = named(
    {
        "admit": admit_bodies,
        "record-vitals": vitals_bodies,
        "transfer": transfer_bodies,
        "discharge": st.just({}),
    }
)
alert_commands = named(
    {
        "raise": raise_bodies,
        "acknowledge": acknowledge_bodies,
        "resolve": resolve_bodies,
        "escalate": escalate_bodies,
    }
)
stale_offsets = st.sampled_from([-2, -1, 1, 2])


# -- reading an entity back -------------------------------------------------------------------
@dataclass(frozen=True)
class Seen:
    """An entity as GET answers it; events without `seq`, which the relay fills in later."""

    version: int = 0
    state: Body | None = None
    events: tuple[Body, ...] = ()


def read(http: httpx.Client, entity_type: str, entity_id: str) -> Seen:
    """State first, then events: a concurrent writer can only make the events run ahead."""
    state = http.get(f"/entities/{entity_type}/{entity_id}")
    page = http.get(f"/entities/{entity_type}/{entity_id}/events", params={"limit": 1000})
    assert state.status_code in (200, 404), state.text
    assert page.status_code in (200, 404), page.text
    found = page.json()["events"] if page.status_code == 200 else []
    assert page.status_code == 404 or page.json()["next_after"] is None
    events = tuple({k: v for k, v in e.items() if k != "seq"} for e in found)
    if state.status_code == 404:
        return Seen(events=events)
    return Seen(state.json()["version"], state.json()["state"], events)


def fold(entity_type: str, events: tuple[Body, ...]) -> Body:
    """The entity's own event handlers over the events as served, from the initial state."""
    entity = ENTITIES[entity_type]
    decoded = [
        entity.event_from_stored(e["type"].split(".", 1)[1], e["schemaversion"], e["data"])
        for e in events
    ]
    return entity.fold(decoded).model_dump(mode="json")


def assert_state_is_the_fold(entity_type: str, seen: Seen) -> None:
    assert [e["entityversion"] for e in seen.events] == list(range(1, seen.version + 1))
    if seen.version:
        assert seen.state == fold(entity_type, seen.events)


def problem_type(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/problem+json", response.text
    return str(response.json()["type"])


# -- the machine ------------------------------------------------------------------------------
class WardMachine(RuleBasedStateMachine):
    """Set ``http`` (a client on a running server) on a subclass before running."""

    http: httpx.Client
    patients = Bundle("patients")
    alerts = Bundle("alerts")

    def __init__(self) -> None:
        super().__init__()
        self.run = uuid.uuid4().hex[:10]  # examples share one database: fresh ids each time
        self.models: dict[tuple[str, str], PatientModel | AlertModel] = {}
        self.seen: dict[tuple[str, str], Seen] = {}
        self.monitored: dict[str, tuple[AlertModel, int]] = {}  # patient id: model, version

    # -- entities ---------------------------------------------------------------------------
    def new_entity(self, entity_type: str) -> str:
        entity_id = f"{entity_type[0]}-{self.run}-{len(self.ids(entity_type))}"
        model = PatientModel() if entity_type == "patient" else AlertModel()
        self.models[entity_type, entity_id] = model
        self.seen[entity_type, entity_id] = Seen()
        return entity_id

    def ids(self, entity_type: str) -> list[str]:
        return [entity_id for kind, entity_id in self.models if kind == entity_type]

    # Each example starts with an observed patient and a raised alert, so that the commands
    # have something to act on (and the monitor something to do) even when swarm testing
    # leaves admit, record-vitals or raise out of the example.
    @initialize(target=patients, body=admit_bodies, readings=st.lists(vitals_bodies, max_size=3))
    def observed_patient(self, body: Body, readings: list[Body]) -> str:
        patient_id = self.new_entity("patient")
        self.send(Call("patient", patient_id, "admit", body))
        for reading in readings:
            self.send(Call("patient", patient_id, "record-vitals", reading))
        return patient_id

    @initialize(target=alerts, body=raise_bodies)
    def raised_alert(self, body: Body) -> str:
        alert_id = self.new_entity("alert")
        self.send(Call("alert", alert_id, "raise", body))
        return alert_id

    @precondition(lambda self: len(self.ids("patient")) < MAX_ENTITIES)
    @rule(target=patients)
    def another_patient(self) -> str:
        return self.new_entity("patient")

    @precondition(lambda self: len(self.ids("alert")) < MAX_ENTITIES)
    @rule(target=alerts)
    def another_alert(self) -> str:
        return self.new_entity("alert")

    # -- the commands, as a client would send them ------------------------------------------
    @rule(patient_id=patients, body=admit_bodies)
    def admit(self, patient_id: str, body: Body) -> None:
        self.send(Call("patient", patient_id, "admit", body))

    @rule(patient_id=patients, body=vitals_bodies)
    def record_vitals(self, patient_id: str, body: Body) -> None:
        self.send(Call("patient", patient_id, "record-vitals", body))

    @rule(patient_id=patients, body=transfer_bodies)
    def transfer(self, patient_id: str, body: Body) -> None:
        self.send(Call("patient", patient_id, "transfer", body))

    @rule(patient_id=patients)
    def discharge(self, patient_id: str) -> None:
        self.send(Call("patient", patient_id, "discharge", {}))

    @rule(alert_id=alerts, body=raise_bodies)
    def raise_alert(self, alert_id: str, body: Body) -> None:
        self.send(Call("alert", alert_id, "raise", body))

    @rule(alert_id=alerts, body=acknowledge_bodies)
    def acknowledge(self, alert_id: str, body: Body) -> None:
        self.send(Call("alert", alert_id, "acknowledge", body))

    @rule(alert_id=alerts, body=resolve_bodies)
    def resolve(self, alert_id: str, body: Body) -> None:
        self.send(Call("alert", alert_id, "resolve", body))

    @rule(alert_id=alerts, body=escalate_bodies)
    def escalate(self, alert_id: str, body: Body) -> None:
        self.send(Call("alert", alert_id, "escalate", body))

    # -- what must change nothing (and what a retry or a current If-Match must not disturb) --
    @rule(patient_id=patients, invalid=st.sampled_from(INVALID_BODIES["patient"]))
    def invalid_patient_command(self, patient_id: str, invalid: tuple[str, Any]) -> None:
        self.send_invalid(Call("patient", patient_id, *invalid))

    @rule(alert_id=alerts, invalid=st.sampled_from(INVALID_BODIES["alert"]))
    def invalid_alert_command(self, alert_id: str, invalid: tuple[str, Any]) -> None:
        self.send_invalid(Call("alert", alert_id, *invalid))

    @rule(patient_id=patients, command=patient_commands, offset=stale_offsets)
    def stale_patient_command(
        self, patient_id: str, command: tuple[str, Body], offset: int
    ) -> None:
        self.send_stale(Call("patient", patient_id, *command), offset)

    @rule(alert_id=alerts, command=alert_commands, offset=stale_offsets)
    def stale_alert_command(self, alert_id: str, command: tuple[str, Body], offset: int) -> None:
        self.send_stale(Call("alert", alert_id, *command), offset)

    @rule(patient_id=patients, command=patient_commands)
    def guarded_patient_command(self, patient_id: str, command: tuple[str, Body]) -> None:
        self.send_guarded(Call("patient", patient_id, *command))

    @rule(alert_id=alerts, command=alert_commands)
    def guarded_alert_command(self, alert_id: str, command: tuple[str, Body]) -> None:
        self.send_guarded(Call("alert", alert_id, *command))

    @rule(patient_id=patients, command=patient_commands)
    def retried_patient_command(self, patient_id: str, command: tuple[str, Body]) -> None:
        self.send_twice(Call("patient", patient_id, *command))

    @rule(alert_id=alerts, command=alert_commands)
    def retried_alert_command(self, alert_id: str, command: tuple[str, Body]) -> None:
        self.send_twice(Call("alert", alert_id, *command))

    def send_invalid(self, call: Call) -> None:
        response = self.http.post(call.path, json=call.body)
        assert response.status_code == 422, response.text
        self.assert_unchanged(call)

    def send_stale(self, call: Call, offset: int) -> None:
        current = self.seen[call.entity_type, call.entity_id].version
        stale = current + offset if current + offset >= 0 else current + 1
        response = self.http.post(call.path, json=call.body, headers={"If-Match": f'"{stale}"'})
        assert response.status_code == 409, response.text
        assert problem_type(response) == "/problems/version-conflict"
        assert response.json()["current_version"] == current
        self.assert_unchanged(call)

    def send_guarded(self, call: Call) -> None:
        current = self.seen[call.entity_type, call.entity_id].version
        self.send(call, headers={"If-Match": f'"{current}"'})

    def send_twice(self, call: Call) -> None:
        """The same Idempotency-Key again: the first reply, and nothing appended."""
        key = {"Idempotency-Key": f"sm-{uuid.uuid4().hex}"}
        first = self.send(call, headers=key)
        again = self.http.post(call.path, json=call.body, headers=key)
        if first.status_code == 200:
            assert again.status_code == 200, again.text
            assert again.json() == first.json()
            assert again.headers["idempotent-replayed"] == "true"
            if call.command in ALTERED:
                altered = ALTERED[call.command](call.body)
                other = self.http.post(call.path, json=altered, headers=key)
                assert other.status_code == 422, other.text
                assert problem_type(other) == "/problems/idempotency-key-reused"
        else:  # a refusal is not stored under the key: the retry is decided again, and refused
            assert again.status_code == 409, again.text
            assert problem_type(again) == "/problems/command-rejected"
        self.assert_unchanged(call)

    # -- checking ---------------------------------------------------------------------------
    def send(self, call: Call, headers: dict[str, str] | None = None) -> httpx.Response:
        """Send a command the model has an answer for; check the answer and the entity after."""
        key = call.entity_type, call.entity_id
        before = self.seen[key]
        expected = self.models[key].decide(call.command, call.body)
        response = self.http.post(call.path, json=call.body, headers=headers or {})
        if expected is None:
            assert response.status_code == 409, response.text
            assert problem_type(response) == "/problems/command-rejected"
            assert response.json()["version"] == before.version
            self.assert_unchanged(call)
            return response
        assert response.status_code == 200, response.text
        reply = response.json()
        appended = [f"{call.entity_type}.{name}" for name in expected.events]
        assert [e["type"] for e in reply["events"]] == appended
        assert reply["version"] == before.version + len(appended)
        assert (reply["reply"] or {}).get("outcome") == (None if appended else "unchanged")
        after = self.observe(call.entity_type, call.entity_id)
        assert after.events[: before.version] == before.events  # history is only ever added to
        assert [e["id"] for e in after.events[before.version :]] == [
            e["event_id"] for e in reply["events"]
        ]
        self.models[key] = expected.model
        self.assert_matches_model(key, after)
        if call.entity_type == "patient":
            self.follow_the_monitor(call, expected.model)
        return response

    def observe(self, entity_type: str, entity_id: str) -> Seen:
        seen = read(self.http, entity_type, entity_id)
        assert_state_is_the_fold(entity_type, seen)
        self.seen[entity_type, entity_id] = seen
        return seen

    def assert_unchanged(self, call: Call) -> None:
        before = self.seen[call.entity_type, call.entity_id]
        assert self.observe(call.entity_type, call.entity_id) == before

    def assert_matches_model(self, key: tuple[str, str], seen: Seen) -> None:
        model = self.models[key]
        # An 'unchanged' answer to an entity without events leaves it without any: still 404.
        assert seen.state == (asdict(model) if seen.version else None)

    # -- the vitals monitor's alerts --------------------------------------------------------
    def follow_the_monitor(self, call: Call, patient_now: PatientModel) -> None:
        """Predict what the monitor will do to the patient's alert, and check it in flight:
        whatever it has written so far must already fold to the state served."""
        sent = monitor_command(patient_now, call.command, call.body)
        if sent is None:
            return
        model, version = self.monitored.get(call.entity_id, (AlertModel(), 0))
        outcome = model.decide(*sent)
        assert outcome is not None, f"the monitor's {sent} would be refused by {model}"
        self.monitored[call.entity_id] = (outcome.model, version + len(outcome.events))
        seen = read(self.http, "alert", call.entity_id)
        written = tuple(e for e in seen.events if e["entityversion"] <= seen.version)
        assert_state_is_the_fold("alert", replace(seen, events=written))

    def teardown(self) -> None:
        patient_ids = [pid for pid in self.ids("patient") if self.seen["patient", pid].version]
        if not patient_ids:
            return
        wait_for_the_monitor(self.http, patient_ids)
        for patient_id in patient_ids:
            seen = read(self.http, "alert", patient_id)
            assert_state_is_the_fold("alert", seen)
            model, version = self.monitored.get(patient_id, (AlertModel(), 0))
            assert seen.version == version, f"alert/{patient_id}: {seen}"
            if version:
                assert seen.state == asdict(model)


def wait_for_the_monitor(http: httpx.Client, patient_ids: list[str]) -> None:
    """Until every patient event is in the log and the monitor has handled up to the last."""
    deadline = time.monotonic() + MONITOR_WAIT_SECONDS
    last_seq = 0
    for patient_id in patient_ids:
        while True:
            page = http.get(f"/entities/patient/{patient_id}/events", params={"limit": 1000})
            seq = page.json()["events"][-1]["seq"]
            if seq is not None:
                last_seq = max(last_seq, seq)
                break
            assert time.monotonic() < deadline, f"patient {patient_id}'s events not sequenced"
            time.sleep(0.02)
    while True:
        status = http.get(f"/consumers/{MONITOR}").json()
        if status["checkpoint"] >= last_seq:
            return
        assert time.monotonic() < deadline, f"the monitor did not reach seq {last_seq}: {status}"
        time.sleep(0.02)


# -- the test ---------------------------------------------------------------------------------
@pytest.mark.timeout(900)  # passes in ~15 s; a failure is shrunk, for up to 5 minutes
def test_ward_entities_over_http_are_the_fold_of_their_events(
    settings: Settings, database_url: str
) -> None:
    # Snapshots every 3 events, so reads go through snapshot + tail as well as a full replay.
    app = create_app(settings.but(snapshot_every=3), database_url=database_url)
    with (
        uvicorn_in_thread(app) as url,
        httpx.Client(base_url=url, headers=AUTH_HEADERS, timeout=30) as http,
    ):

        class Machine(WardMachine):
            pass

        Machine.http = http
        run_state_machine_as_test(
            Machine,
            settings=hypothesis_settings(
                max_examples=20,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )

"""A consumer's status as the API shows it: position, lag, health, leadership."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class RebuildStatus(BaseModel):
    state: Literal["running", "failed", "done"]
    position: int | None = Field(description="How far the fresh table has got (seq).")
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ConsumerStatus(BaseModel):
    name: str
    kind: Literal["view", "action", "webhooks"] | str
    state: Literal[
        "running", "paused", "failing", "upstream-unavailable", "broker-unavailable", "retired"
    ] = Field(
        description="retired: no longer declared by the service this process runs (its"
        " checkpoint is kept; DELETE /consumers/{name} drops it); lag is not counted."
        " upstream-unavailable: the producer of its stream cannot be read (upstream_error)."
        " broker-unavailable: the Kafka broker it publishes to or reads from does not"
        " answer (upstream_error)."
    )
    upstream: str | None = Field(
        default=None,
        description="service/stream, for a consumer of another service's public stream: its"
        " checkpoint and head are then the producer's seqs.",
    )
    checkpoint: int = Field(description="The last seq this consumer has handled.")
    head: int = Field(description="The log's last seq (the producer's, as last seen).")
    lag_events: int
    unsequenced: int = Field(
        default=0,
        description="Events committed to this service's log and not numbered yet (the"
        " sequencer numbers them within moments): not in head, and not handled. 0 for a"
        " consumer of another service's stream.",
    )
    lag_seconds: float = Field(description="Age of the oldest event not handled yet.")
    leader: str | None = Field(description="host:pid:tag of the process that last led it.")
    failing_seq: int | None = Field(description="The seq it is stuck on, when failing.")
    error: str | None = None
    failing_since: datetime | None = None
    attempts: int = Field(description="Failed attempts at failing_seq so far.")
    parked: int = Field(description="Events an operator skipped.")
    updated_at: datetime
    rebuild: RebuildStatus | None = None
    upstream_error: str | None = Field(default=None, description="Why the producer cannot be read.")
    upstream_failing_since: datetime | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any], *, retired: bool = False) -> ConsumerStatus:
        if retired:
            state = "retired"
        elif row["paused"]:
            state = "paused"
        elif row["failing_seq"] is not None:
            state = "failing"
        elif row.get("upstream_error"):
            kafka = row["kind"] == "publisher" or str(row.get("upstream")).startswith("kafka:")
            state = "broker-unavailable" if kafka else "upstream-unavailable"
        else:
            state = "running"
        rebuild = None
        if row["rebuild_state"]:
            rebuild = RebuildStatus(
                state=row["rebuild_state"],
                position=row["rebuild_position"],
                error=row["rebuild_error"],
                started_at=row["rebuild_started_at"],
                finished_at=row["rebuilt_at"] if row["rebuild_state"] == "done" else None,
            )
        return cls(
            name=row["name"],
            kind=row["kind"],
            state=state,
            checkpoint=row["position"],
            head=row["head"],
            lag_events=0 if retired else max(0, row["head"] - row["position"]),
            unsequenced=row.get("unsequenced") or 0,
            lag_seconds=0.0 if retired else max(0.0, float(row["lag_seconds"] or 0)),
            leader=row["leader"],
            failing_seq=row["failing_seq"],
            error=row["error"],
            failing_since=row["failing_since"],
            attempts=row["attempts"],
            parked=row["parked"],
            updated_at=row["updated_at"],
            rebuild=rebuild,
            upstream=row.get("upstream"),
            upstream_error=row.get("upstream_error"),
            upstream_failing_since=row.get("upstream_failing_since"),
        )

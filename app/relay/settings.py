"""The sequencer's batches, and how the consumers (views, actions) take the log."""

from __future__ import annotations

from pydantic import Field

from app.config import SettingsGroup


class SequencerSettings(SettingsGroup):
    batch_size: int = Field(
        default=5000,
        ge=1,
        alias="sequencer_batch_size",
        description="Outbox rows the sequencer numbers per transaction.",
    )


class ConsumerSettings(SettingsGroup):
    batch_size: int = Field(
        default=1000,
        ge=1,
        alias="consumer_batch_size",
        description="Log events a view or action takes per batch at most.",
    )
    min_interval_seconds: float = Field(
        default=0.01,
        ge=0,
        alias="consumer_min_interval_seconds",
        description="Under load, a consumer caught up with the log starts at most one batch"
        " per interval, so batches grow instead of multiplying; 0 turns pacing off.",
    )
    backoff_initial_seconds: float = Field(
        default=0.1,
        gt=0,
        alias="consumer_backoff_initial_seconds",
        description="First retry delay of a failing consumer (then doubles).",
    )
    backoff_max_seconds: float = Field(
        default=30.0,
        gt=0,
        alias="consumer_backoff_max_seconds",
        description="Longest retry delay of a failing consumer.",
    )

    def backoff(self, attempts: int) -> float:
        growing = self.backoff_initial_seconds * 2 ** max(attempts - 1, 0)
        return min(self.backoff_max_seconds, growing)

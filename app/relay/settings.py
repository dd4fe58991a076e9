"""The sequencer's batches, and how the consumers (views, actions) take the log."""

from __future__ import annotations

from app.config import SettingsGroup, setting


class SequencerSettings(SettingsGroup):
    batch_size: int = setting(
        5000, "sequencer_batch_size", "Outbox rows the sequencer numbers per transaction.", ge=1
    )


class ConsumerSettings(SettingsGroup):
    batch_size: int = setting(
        1000, "consumer_batch_size", "Log events a view or action takes per batch at most.", ge=1
    )
    min_interval_seconds: float = setting(
        0.01,
        "consumer_min_interval_seconds",
        "Under load, a consumer caught up with the log starts at most one batch"
        " per interval, so batches grow instead of multiplying; 0 turns pacing off.",
        ge=0,
    )
    max_interval_seconds: float = setting(
        0.05,
        "consumer_max_interval_seconds",
        "While the process is busy (its event loop slow to come back to a paced consumer),"
        " the interval grows with that delay up to this: fewer, bigger batches leave the"
        " time to requests. Equal to the minimum keeps pacing fixed.",
        ge=0,
    )
    backoff_initial_seconds: float = setting(
        0.1,
        "consumer_backoff_initial_seconds",
        "First retry delay of a failing consumer (then doubles).",
        gt=0,
    )
    backoff_max_seconds: float = setting(
        30.0,
        "consumer_backoff_max_seconds",
        "Longest retry delay of a failing consumer.",
        gt=0,
    )

    def backoff(self, attempts: int) -> float:
        growing = self.backoff_initial_seconds * 2 ** max(attempts - 1, 0)
        return min(self.backoff_max_seconds, growing)

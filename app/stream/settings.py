"""The log out to WebSocket clients: what each process keeps, and what each client may hold."""

from __future__ import annotations

from pydantic import Field

from app.config import SettingsGroup


class StreamSettings(SettingsGroup):
    log_buffer_size: int = Field(
        default=10_000,
        ge=1,
        alias="log_buffer_size",
        description="Recent log events each process keeps in memory.",
    )
    max_message_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        alias="ws_max_message_bytes",
        description="Larger WebSocket messages from a client close it.",
    )
    clients_per_key: int = Field(
        default=100,
        ge=1,
        alias="ws_clients_per_key",
        description="WebSocket connections one API key may hold per process.",
    )
    queue_size: int = Field(
        default=1000,
        ge=1,
        alias="ws_queue_size",
        description="Events queued per WebSocket client at most.",
    )
    slow_after_seconds: float = Field(
        default=2.0,
        gt=0,
        alias="ws_slow_after_seconds",
        description="A client whose queue stays full this long is closed 4008.",
    )
    ping_interval_seconds: float = Field(
        default=20.0,
        gt=0,
        alias="ws_ping_interval_seconds",
        description="The server pings WebSocket clients this often.",
    )
    ping_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        alias="ws_ping_timeout_seconds",
        description="A client that does not answer a ping in time is closed.",
    )

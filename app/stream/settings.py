"""The log out to WebSocket clients: what each process keeps, and what each client may hold."""

from __future__ import annotations

from app.config import SettingsGroup, setting


class StreamSettings(SettingsGroup):
    log_buffer_size: int = setting(
        10_000, "log_buffer_size", "Recent log events each process keeps in memory.", ge=1
    )
    max_message_bytes: int = setting(
        64 * 1024,
        "ws_max_message_bytes",
        "Larger WebSocket messages from a client close it.",
        ge=1024,
    )
    clients_per_key: int = setting(
        100,
        "ws_clients_per_key",
        "WebSocket connections one API key may hold per process.",
        ge=1,
    )
    queue_size: int = setting(
        1000, "ws_queue_size", "Events queued per WebSocket client at most.", ge=1
    )
    slow_after_seconds: float = setting(
        2.0,
        "ws_slow_after_seconds",
        "A client whose queue stays full this long is closed 4008.",
        gt=0,
    )
    ping_interval_seconds: float = setting(
        20.0,
        "ws_ping_interval_seconds",
        "The server pings WebSocket clients this often.",
        gt=0,
    )
    ping_timeout_seconds: float = setting(
        20.0,
        "ws_ping_timeout_seconds",
        "A client that does not answer a ping in time is closed.",
        gt=0,
    )

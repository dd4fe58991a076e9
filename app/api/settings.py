"""The HTTP server's knobs: where it listens, what it accepts, and what it logs."""

from __future__ import annotations

from app.config import SettingsGroup, setting


class HttpSettings(SettingsGroup):
    host: str = setting("127.0.0.1", "host", "Where `sluice serve` listens.")
    port: int = setting(8000, "port", "Where `sluice serve` listens.")
    max_body_bytes: int = setting(64 * 1024, "max_body_bytes", "Larger bodies get 413.", ge=1)
    max_json_depth: int = setting(
        32, "max_json_depth", "Deeper JSON bodies (nested objects/arrays) get 400.", ge=1
    )
    header_timeout_seconds: float = setting(
        10.0,
        "http_header_timeout_seconds",
        "A connection must send a request's headers within this long, or it is"
        " closed (half-sent requests cannot pile up).",
        gt=0,
    )
    keep_alive_seconds: float = setting(
        5.0,
        "http_keep_alive_seconds",
        "An idle keep-alive connection is closed after this long.",
        gt=0,
    )
    max_connections: int = setting(
        2048,
        "http_max_connections",
        "Open connections (WebSockets included) and requests in flight per"
        " process at most; beyond, new requests get 503.",
        ge=1,
    )


class LogSettings(SettingsGroup):
    level: str = setting(
        "INFO",
        "log_level",
        "debug, info, warning or error.",
        pattern="(?i)^(debug|info|warning|error|critical)$",
    )
    format: str = setting(
        "auto",
        "log_format",
        "json (one object per line), text, or auto: text at a terminal, json otherwise.",
        pattern="^(json|text|auto)$",
    )
    access_log: bool = setting(True, "access_log", "One log line per request.")

"""The HTTP server's knobs: where it listens, what it accepts, and what it logs."""

from __future__ import annotations

from pydantic import Field

from app.config import SettingsGroup


class HttpSettings(SettingsGroup):
    host: str = Field(
        default="127.0.0.1", alias="host", description="Where `sluice serve` listens."
    )
    port: int = Field(default=8000, alias="port", description="Where `sluice serve` listens.")
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1, alias="max_body_bytes", description="Larger bodies get 413."
    )
    max_json_depth: int = Field(
        default=32,
        ge=1,
        alias="max_json_depth",
        description="Deeper JSON bodies (nested objects/arrays) get 400.",
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        alias="http_header_timeout_seconds",
        description="A connection must send a request's headers within this long, or it is"
        " closed (half-sent requests cannot pile up).",
    )
    keep_alive_seconds: float = Field(
        default=5.0,
        gt=0,
        alias="http_keep_alive_seconds",
        description="An idle keep-alive connection is closed after this long.",
    )
    max_connections: int = Field(
        default=2048,
        ge=1,
        alias="http_max_connections",
        description="Open connections (WebSockets included) and requests in flight per"
        " process at most; beyond, new requests get 503.",
    )


class LogSettings(SettingsGroup):
    level: str = Field(
        default="INFO",
        pattern="(?i)^(debug|info|warning|error|critical)$",
        alias="log_level",
        description="debug, info, warning or error.",
    )
    format: str = Field(
        default="auto",
        pattern="^(json|text|auto)$",
        alias="log_format",
        description="json (one object per line), text, or auto: text at a terminal, json"
        " otherwise.",
    )
    access_log: bool = Field(
        default=True, alias="access_log", description="One log line per request."
    )

"""OpenTelemetry: spans reach an OTLP/HTTP collector when OTEL_EXPORTER_OTLP_ENDPOINT is set,
joined to the caller's trace; nothing is exported (or even set up) when it is not."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from app.main import _telemetry
from tests.support.auth import AUTH_HEADERS
from tests.support.receiver import Receiver
from tests.support.servers import SluiceProcess
from tests.support.ward import ADMIT
from tests.support.webhooks import eventually

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


@pytest.mark.timeout(120)
async def test_spans_are_exported_to_the_collector_in_the_callers_trace(
    database_url: str, tmp_path: Path
) -> None:
    async with Receiver() as collector:
        endpoint = f"http://127.0.0.1:{collector.port}"
        env = {
            "DATABASE_URL": database_url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_SERVICE_NAME": "sluice-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        process = SluiceProcess(env, tmp_path)
        try:
            await asyncio.to_thread(process.wait_ready)
            async with httpx.AsyncClient(base_url=process.url, headers=AUTH_HEADERS) as http:
                reply = await http.post(
                    "/entities/patient/p1/admit",
                    json=ADMIT,
                    headers={"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"},
                )
                assert reply.status_code == 200

            def exported() -> bytes | None:
                spans = b"".join(r.body for r in collector.requests if r.path == "/v1/traces")
                return spans if bytes.fromhex(TRACE_ID) in spans else None

            spans = await eventually(exported, 30, "spans at the collector")
            assert b"sluice-under-test" in spans  # the resource names the service
            assert b"/entities/patient/" in spans  # the command's span
        finally:
            process.close()


def test_without_an_endpoint_telemetry_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert _telemetry() == {"tracing": False, "metrics": False, "logs": False}
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert _telemetry() == {"auto_configure": True}

"""Two services talking through events, in one test: the ward and the outreach team, each on
its own database and its own uvicorn (real HTTP between them), wired with keys made in each
other's database, as `sluice up` wires them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from app.db.urls import libpq_url
from app.keys.store import SyncKeyStore
from app.main import create_app
from app.services.outreach import service as outreach_service
from app.services.ward import service as ward_service
from app.settings import Settings
from tests.support.auth import ADMIN_KEY, AUTH_HEADERS
from tests.support.servers import free_port, uvicorn_in_thread
from tests.support.waiting import eventually

T = TypeVar("T")


@dataclass
class System:
    ward: str  # base URLs
    outreach: str
    ward_db: str
    outreach_db: str

    def client(self, base: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base, headers=AUTH_HEADERS, timeout=10)


def stream_key(database_url: str, reader: str, scopes: tuple[str, ...]) -> str:
    _, key = SyncKeyStore(libpq_url(database_url)).create(reader, scopes)
    return key


def service_settings(data_dir: Path, upstream: str, url: str, key: str, **extra: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        admin_key=ADMIN_KEY,
        upstreams={upstream: {"url": url, "key": key}},
        **extra,
    )


@contextmanager
def two_services(
    tmp_path: Path,
    ward_db: str,
    outreach_db: str,
    *,
    ward_extra: dict[str, Any] | None = None,
    outreach_extra: dict[str, Any] | None = None,
    **extra: Any,
) -> Iterator[System]:
    ward_port, outreach_port = free_port(), free_port()
    ward_url, outreach_url = f"http://127.0.0.1:{ward_port}", f"http://127.0.0.1:{outreach_port}"
    # Each reads the other with a key of the other's, scoped to the one stream it needs.
    ward_reads = stream_key(outreach_db, "ward", ("streams:read:callouts",))
    outreach_reads = stream_key(ward_db, "outreach", ("streams:read:alerts",))
    ward = create_app(
        service_settings(
            tmp_path / "ward", "outreach", outreach_url, ward_reads, **extra, **(ward_extra or {})
        ),
        service=ward_service,
        database_url=ward_db,
    )
    outreach = create_app(
        service_settings(
            tmp_path / "outreach",
            "ward",
            ward_url,
            outreach_reads,
            **extra,
            **(outreach_extra or {}),
        ),
        service=outreach_service,
        database_url=outreach_db,
    )
    with ExitStack() as stack:
        stack.enter_context(uvicorn_in_thread(ward, ward_port))
        stack.enter_context(uvicorn_in_thread(outreach, outreach_port))
        yield System(ward_url, outreach_url, ward_db, outreach_db)


async def row_where(
    http: httpx.AsyncClient, path: str, seconds: float = 15, **wanted: Any
) -> dict[str, Any]:
    """The view row at ``path`` once it has the ``wanted`` fields."""

    async def probe() -> dict[str, Any] | None:
        answer = await http.get(path)
        if answer.status_code != 200:
            return None
        row = answer.json()
        return row if all(row.get(k) == v for k, v in wanted.items()) else None

    return await eventually(probe, seconds, f"{path} with {wanted}")

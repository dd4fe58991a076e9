"""``/admin/keys``: the same key management as ``sluice keys``, over HTTP, for admins."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, StrictFloat

from app.api.problems import ProblemError, problem_responses
from app.keys.ratelimit import MAX_RATE, MIN_RATE
from app.keys.scopes import ONE_STREAM, Scope, parse_scopes
from app.keys.store import KeyInfo
from app.runtime import RuntimeDep

router = APIRouter(prefix="/admin/keys", tags=["keys"])

# 0 (no limit) or a rate the token bucket can work with; the schema says so, for clients.
RateLimit = (
    Annotated[StrictFloat, Field(ge=0, le=0)]
    | Annotated[StrictFloat, Field(ge=MIN_RATE, le=MAX_RATE)]
)


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Who or what uses the key.")
    scopes: list[Scope | Annotated[str, Field(pattern=ONE_STREAM.pattern)]] = Field(
        min_length=1,
        max_length=100,
        description="What the key may do; streams:read:<stream id> reads one public stream.",
    )
    rate_limit_per_second: RateLimit | None = Field(  # a number: false or "5" is refused
        default=None,
        description="This key's own limit in requests/s: 0 (none), or 0.01 to 1,000,000;"
        " unset: SLUICE_RATE_LIMIT_PER_SECOND.",
    )


class KeyPublic(BaseModel):
    id: uuid.UUID
    hint: str = Field(description="The key's first characters, to tell keys apart.")
    name: str
    scopes: list[str]
    rate_limit_per_second: float | None
    origin: str = Field(description="api, cli, env (SLUICE_ADMIN_KEY) or first-start.")
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, info: KeyInfo) -> KeyPublic:
        return cls(**asdict(info))


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself. Shown this once: only its hash is stored.")


@router.post(
    "",
    status_code=201,
    summary="Create an API key (shown once)",
    response_model=KeyCreated,
    responses=problem_responses(422),
)
async def create_key(runtime: RuntimeDep, body: KeyCreate) -> KeyCreated:
    scopes = parse_scopes([str(scope) for scope in body.scopes])
    info, key = await runtime.keys.create(body.name, scopes, rate_limit=body.rate_limit_per_second)
    return KeyCreated(**asdict(info), key=key)


@router.get("", summary="Every API key, revoked ones included", response_model=list[KeyPublic])
async def list_keys(runtime: RuntimeDep) -> list[KeyPublic]:
    return [KeyPublic.of(info) for info in await runtime.keys.list()]


@router.delete(
    "/{key_id}",
    summary="Revoke an API key (at once, in every process)",
    response_model=KeyPublic,
    responses=problem_responses(404, 422),
)
async def revoke_key(runtime: RuntimeDep, key_id: Annotated[uuid.UUID, Path()]) -> KeyPublic:
    info = await runtime.keys.revoke(key_id)
    runtime.keyring.forget_all()  # here at once; other processes on the NOTIFY
    if info is None:
        raise ProblemError(404, "not-found", "Not found", "no active key has this id")
    return KeyPublic.of(info)

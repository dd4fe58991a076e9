"""Liveness and readiness: /healthz answers while the process runs, /readyz when it can work."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.problems import problem_response, problem_responses
from app.runtime import RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database answers", responses=problem_responses(503))
async def readyz(request: Request, runtime: RuntimeDep) -> JSONResponse:
    if runtime.draining:
        return problem_response(
            request, 503, "not-ready", "Not ready", "shutting down: use another process"
        )
    try:
        async with asyncio.timeout(2):
            async with runtime.pool.connection() as conn:
                await conn.execute("SELECT 1")
    except Exception as error:  # any failure means "not ready", and says why
        return problem_response(
            request, 503, "not-ready", "Not ready", f"database: {type(error).__name__}"
        )
    role = runtime.settings.process.role
    if role == "api":
        sequencer = "elsewhere"  # a workers process numbers this one's commands
    else:
        sequencer = "leader" if runtime.sequencer.stats.leading else "standby"
    return JSONResponse({"status": "ready", "role": role, "sequencer": sequencer})

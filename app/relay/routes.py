"""Operating consumers: ``GET /consumers``, and pause, resume or skip one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from app.api.problems import ProblemError, problem_responses
from app.api.text import NO_NUL
from app.relay.checkpoints import Checkpoints, SkipRefused
from app.relay.status import ConsumerStatus
from app.runtime import runtime_of

router = APIRouter(prefix="/consumers", tags=["consumers"])
ConsumerName = Annotated[str, Path(pattern=NO_NUL, description="A view's or action's name.")]


def _checkpoints(request: Request) -> Checkpoints:
    checkpoints: Checkpoints = runtime_of(request.scope).checkpoints
    return checkpoints


async def consumer_status(request: Request, name: str) -> ConsumerStatus:
    rows = await _checkpoints(request).status(name)
    if not rows:
        raise _unknown_consumer(name)
    return _status(request, rows[0])


def _unknown_consumer(name: str) -> ProblemError:
    return ProblemError(404, "unknown-consumer", "Unknown consumer", f"no consumer {name!r}")


def _status(request: Request, row: dict[str, Any]) -> ConsumerStatus:
    declares = runtime_of(request.scope).declares
    return ConsumerStatus.from_row(row, retired=not declares(row["name"]))


@router.get(
    "", summary="Every consumer: checkpoint, lag and state", response_model=list[ConsumerStatus]
)
async def list_consumers(request: Request) -> list[ConsumerStatus]:
    return [_status(request, row) for row in await _checkpoints(request).status()]


@router.get(
    "/{name}",
    summary="One consumer's checkpoint, lag and state",
    response_model=ConsumerStatus,
    responses=problem_responses(404),
)
async def get_consumer(request: Request, name: ConsumerName) -> ConsumerStatus:
    return await consumer_status(request, name)


@router.post(
    "/{name}/skip",
    summary="Park the event a failing consumer is stuck on, and carry on after it",
    response_model=ConsumerStatus,
    responses=problem_responses(404, 409, 422),
)
async def skip_event(
    request: Request,
    name: ConsumerName,
    seq: Annotated[
        int | None, Query(ge=1, description="The stuck seq; refused if it is not that one.")
    ] = None,
) -> ConsumerStatus:
    await consumer_status(request, name)
    try:
        await _checkpoints(request).skip(name, seq)
    except SkipRefused as refused:
        raise ProblemError(409, "not-stuck-there", "Nothing to skip", str(refused)) from None
    return await consumer_status(request, name)


@router.post(
    "/{name}/pause",
    summary="Stop handling events until resumed (the checkpoint stays)",
    response_model=ConsumerStatus,
    responses=problem_responses(404),
)
async def pause(request: Request, name: ConsumerName) -> ConsumerStatus:
    return await _set_paused(request, name, True)


@router.post(
    "/{name}/resume",
    summary="Carry on from the checkpoint",
    response_model=ConsumerStatus,
    responses=problem_responses(404),
)
async def resume(request: Request, name: ConsumerName) -> ConsumerStatus:
    return await _set_paused(request, name, False)


async def _set_paused(request: Request, name: str, paused: bool) -> ConsumerStatus:
    if not await _checkpoints(request).set_paused(name, paused):
        raise _unknown_consumer(name)
    return await consumer_status(request, name)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Forget a retired consumer: its checkpoint and parked events",
    responses=problem_responses(404, 409),
)
async def forget_consumer(request: Request, name: ConsumerName) -> Response:
    status = await consumer_status(request, name)
    if status.state != "retired":
        raise ProblemError(
            409,
            "consumer-declared",
            "Consumer in use",
            f"{name} is declared by the service this process runs: only a retired consumer"
            " (one the service no longer declares) can be forgotten",
        )
    await _checkpoints(request).forget(name)
    return Response(status_code=204)

"""Operating workflows: ``GET /workflows`` (where each one is), and pause, resume or cancel one.

The list reads the workflows' snapshots (each write takes one, in the same transaction as its
events), so it is exactly as current as the journal; running and paused ones are indexed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, Field

from app.api.problems import ProblemError, problem_responses
from app.journal.commands import CommandRequest
from app.journal.errors import EntityNotFound
from app.journal.front_door import ENTITY_ID_PATTERN
from app.keys.auth import require
from app.keys.scopes import ADMIN, EVENTS_READ
from app.runtime import Runtime, RuntimeDep
from app.sdk.workflow import Workflow
from app.sdk.workflow_parts import OPERATOR_COMMANDS

router = APIRouter(prefix="/workflows", tags=["workflows"])

Status = Literal["running", "paused", "completed", "failed", "cancelled"]

LIST = """
SELECT entity_type, entity_id, version, state FROM snapshots
WHERE entity_type = ANY(%(names)s) AND state->>'kind' = 'workflow'
  AND state->>'status' = ANY(%(statuses)s)
  AND (%(step)s::text IS NULL OR state->>'step' = %(step)s)
  AND (entity_type, entity_id) > (%(after_name)s, %(after_id)s)
ORDER BY entity_type, entity_id
LIMIT %(limit)s
"""


class WorkflowStatus(BaseModel):
    workflow: str
    id: str
    version: int
    status: Status
    step: str | None
    attempt: int
    deadline: datetime | None = Field(
        description="When the step times out, or when a failed step is tried again."
    )
    retrying: bool = Field(description="Waiting out a backoff before the step's next attempt.")
    error: str | None = Field(description="The step's last failure (or why the workflow failed).")
    paused_reason: str | None = None
    state: Any = None


class WorkflowPage(BaseModel):
    workflows: list[WorkflowStatus]
    next_after: str | None = Field(
        description="Pass as ?after= for the next page (None: this was the last)."
    )


class OperatorNote(BaseModel):
    reason: str = Field(default="", max_length=500)


def _workflows(runtime: Runtime) -> dict[str, Workflow]:
    return {
        name: entity
        for name, entity in runtime.service.entity_types.items()
        if isinstance(entity, Workflow)
    }


def _workflow(runtime: Runtime, name: str) -> Workflow:
    workflow = _workflows(runtime).get(name)
    if workflow is None:
        known = ", ".join(sorted(_workflows(runtime))) or "none"
        raise ProblemError(
            404, "unknown-workflow", "Unknown workflow", f"no workflow {name!r} (known: {known})"
        )
    return workflow


@router.get(
    "",
    summary="Workflows and where each one is: step, attempt, deadline, last error",
    response_model=WorkflowPage,
    responses=problem_responses(404, 422),
    dependencies=[require(EVENTS_READ)],
)
async def list_workflows(
    runtime: RuntimeDep,
    workflow: Annotated[str | None, Query(description="Only this workflow type.")] = None,
    status: Annotated[
        list[Status] | None, Query(description="Default: running and paused.")
    ] = None,
    step: Annotated[str | None, Query(max_length=63)] = None,
    after: Annotated[
        str | None, Query(max_length=300, description="next_after of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> WorkflowPage:
    names = [_workflow(runtime, workflow).name] if workflow else sorted(_workflows(runtime))
    after_name, _, after_id = (after or "").partition("/")
    params = {
        "names": names,
        "statuses": status or ["running", "paused"],
        "step": step,
        "after_name": after_name,
        "after_id": after_id,
        "limit": limit,
    }
    async with runtime.pool.connection() as conn:
        rows = await (await conn.execute(LIST, params)).fetchall()
    found = [
        WorkflowStatus(workflow=name, id=workflow_id, version=version, **_shown(state))
        for name, workflow_id, version, state in rows
    ]
    last = f"{found[-1].workflow}/{found[-1].id}" if len(found) == limit else None
    return WorkflowPage(workflows=found, next_after=last)


def _shown(state: dict[str, Any]) -> dict[str, Any]:
    fields = ("status", "step", "attempt", "deadline", "retrying", "error", "paused_reason")
    return {name: state.get(name) for name in (*fields, "state")}


@router.post(
    "/{workflow}/{workflow_id}/{action}",
    summary="Pause, resume or cancel one workflow",
    response_model=WorkflowStatus,
    responses=problem_responses(404, 409, 422),
    dependencies=[require(ADMIN)],
)
async def operate(
    runtime: RuntimeDep,
    workflow: str,
    workflow_id: Annotated[str, Path(pattern=ENTITY_ID_PATTERN)],
    action: Literal["pause", "resume", "cancel"],
    note: Annotated[OperatorNote | None, Body()] = None,
) -> WorkflowStatus:
    """Pause: no step moves on and no timeout runs until it is resumed. Resume: the current
    step starts again (a call replays its command's reply if it had run; its timeout starts
    afresh). Cancel: the workflow ends as ``cancelled`` (compensation is the author's
    steps, not this)."""
    found = _workflow(runtime, workflow)
    if (await runtime.runner.load(found, workflow_id)).version == 0:
        raise EntityNotFound(found.name, workflow_id)
    model = OPERATOR_COMMANDS[action]
    body = model(reason=note.reason) if note and "reason" in model.model_fields else model()
    request = CommandRequest(
        entity_type=found.name,
        entity_id=workflow_id,
        command=action,
        body=body,
        metadata={"actor": "operator"},
    )
    await runtime.runner.run(request)
    loaded = await runtime.runner.load(found, workflow_id)
    progress = loaded.state.model_dump(mode="json")
    return WorkflowStatus(
        workflow=found.name, id=workflow_id, version=loaded.version, **_shown(progress)
    )

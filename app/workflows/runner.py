"""A workflow's call steps, run: a consumer of its ``StepStarted`` events.

Each started call step is sent through the same CommandRunner as HTTP, with the key
``workflow:{name}:{id}:{step}:{attempt}``, and its outcome is handed back to the workflow as
its internal ``step-result`` command, which moves it on (or retries, or fails over). A crash
anywhere between the two is safe: the checkpoint has not moved, the step is read again, the
command's key replays the stored reply instead of acting twice, and the workflow ignores an
answer for a step it has already left.

Only the workflow's latest step matters: a step started and left within one batch is passed
over (its answer would be stale), and the steps of different workflows run concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from app.db.outages import OUTAGE_ERRORS
from app.journal.commands import CommandRequest, CommandRunner
from app.journal.correlation import carried
from app.journal.errors import CommandError, CommandRejected
from app.relay.checkpoints import Checkpoints
from app.relay.consumer import HandlerFailed, PositionMoved
from app.relay.log import EventLog, LoggedEvent, Row
from app.sdk.service import Service
from app.sdk.workflow import Workflow
from app.sdk.workflow_parts import Progress, StepResult

log = logging.getLogger("sluice.workflows")

IDEMPOTENCY_SCOPE = "workflow"


def runner_name(workflow: str) -> str:
    return f"{workflow}-steps"


def step_key(workflow: str, workflow_id: str, step: str, attempt: int) -> str:
    return f"workflow:{workflow}:{workflow_id}:{step}:{attempt}"


class WorkflowRunner:
    kind = "workflow"
    reads_log = True
    start_from = "beginning"

    def __init__(
        self,
        workflow: Workflow,
        service: Service,
        *,
        runner: CommandRunner,
        checkpoints: Checkpoints,
        event_log: EventLog,
    ) -> None:
        self.workflow = workflow
        self.name = runner_name(workflow.name)
        self.log_types = service.log_types([workflow.StepStarted])
        self.runner = runner
        self.checkpoints = checkpoints
        self.event_log = event_log

    def reset(self) -> None:
        """Nothing in memory: a workflow's progress lives in its own events."""

    async def process(self, after: int, upto: int, rows: list[Row]) -> None:
        latest: dict[str, LoggedEvent] = {}
        for row in rows:
            try:
                logged = self.event_log.decode(row)
            except Exception as error:
                raise HandlerFailed(row[0], error) from error
            latest[logged.meta.entity_id] = logged
        steps = [self._step(logged) for logged in latest.values()]
        outcomes = await asyncio.gather(*steps, return_exceptions=True)
        for logged, outcome in zip(latest.values(), outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, OUTAGE_ERRORS):
                    raise outcome  # the runner backs off and reads the batch again
                raise HandlerFailed(logged.meta.seq, outcome) from outcome
        if not await self.checkpoints.advance_from(self.name, after, upto):
            raise PositionMoved(f"{self.name} was moved while it ran ({after}, {upto}]")

    async def _step(self, logged: LoggedEvent) -> None:
        started: Any = logged.event
        workflow_id = logged.meta.entity_id
        spec = self.workflow.steps.get(started.step)
        if spec is None or spec.kind != "call":
            return
        progress: Progress = (await self.runner.load(self.workflow, workflow_id)).state
        current = (progress.status, progress.step, progress.attempt, progress.retrying)
        if current != ("running", started.step, started.attempt, False):
            return  # left since, paused, or waiting out a backoff: not this step's turn
        metadata = {
            **carried(logged.meta.metadata),
            "causation_id": str(logged.meta.event_id),
            "actor": f"workflow:{self.workflow.name}/{workflow_id}",
        }
        result = await self._call(progress, workflow_id, started.step, started.attempt, metadata)
        await self.runner.run(
            CommandRequest(
                entity_type=self.workflow.name,
                entity_id=workflow_id,
                command="step-result",
                body=result,
                metadata=metadata,
            )
        )

    async def _call(
        self,
        progress: Progress,
        workflow_id: str,
        step: str,
        attempt: int,
        metadata: dict[str, Any],
    ) -> StepResult:
        answer: dict[str, Any] = {"step": step, "attempt": attempt}
        try:
            send = self.workflow.sends(progress)
        except Exception as error:  # the step's own bug: a failure of the step, retried
            log.error(
                "%s: step %s of %s failed to build its command: %r",
                self.name,
                step,
                workflow_id,
                error,
            )
            return StepResult(**answer, accepted=False, error=f"the step failed: {error!r}")
        sent = f"{send.entity_type}/{send.entity_id}:{send.command}"
        request = CommandRequest(
            entity_type=send.entity_type,
            entity_id=send.entity_id,
            command=send.command,
            body=send.body,
            idempotency_key=step_key(self.workflow.name, workflow_id, step, attempt),
            idempotency_scope=IDEMPOTENCY_SCOPE,
            metadata=metadata,
        )
        try:
            outcome = await self.runner.run(request)
        except OUTAGE_ERRORS:
            raise
        except CommandRejected as rejection:
            return StepResult(**answer, accepted=False, error=rejection.reason, sent=sent)
        except CommandError as error:  # an unknown target, a version race it kept losing
            return StepResult(**answer, accepted=False, error=str(error), sent=sent)
        return StepResult(**answer, accepted=True, reply=outcome.result.reply, sent=sent)

"""Due timers, fired as commands: the timer's command with the key ``timer:{timer_id}``.

A timer whose lease ran out fires again (another process, or this one after a crash); the
key makes the second run replay the first one's reply. A refusal is an answer too: the
timer is done (the entity decided; a retry would decide the same).
"""

from __future__ import annotations

import logging

from app.journal.commands import CommandRequest, CommandRunner
from app.journal.errors import CommandRejected
from app.timers.store import DueTimer

log = logging.getLogger("sluice.timers")

IDEMPOTENCY_SCOPE = "timer"


async def fire_timer(runner: CommandRunner, timer: DueTimer) -> None:
    entity = runner.entity(timer.entity_type)
    body = entity.commands[timer.command].model.model_validate(timer.body)
    request = CommandRequest(
        entity_type=timer.entity_type,
        entity_id=timer.entity_id,
        command=timer.command,
        body=body,
        idempotency_key=f"timer:{timer.timer_id}",
        idempotency_scope=IDEMPOTENCY_SCOPE,
        metadata={**timer.metadata, "actor": f"timer:{timer.owner}/{timer.key}"},
    )
    try:
        await runner.run(request)
    except CommandRejected as rejection:
        log.info(
            "timer %s/%s: %s rejected: %s",
            timer.owner,
            timer.key,
            timer.command,
            rejection.reason,
        )

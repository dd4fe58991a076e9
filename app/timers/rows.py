"""A scheduled timer as the row the journal's append statement writes."""

from __future__ import annotations

import uuid
from typing import Any

from app.sdk.timers import Timer


def timer_row(
    owner: str, timer: Timer, entity_type: str, entity_id: str, metadata: dict[str, Any]
) -> dict[str, Any]:
    return {
        "owner": owner,
        "key": timer.key,
        "timer_id": str(uuid.uuid4()),
        "entity_type": entity_type,
        "entity_id": entity_id,
        "command": timer.command,
        "body": timer.body.model_dump(mode="json"),
        "metadata": metadata,
        "due_at": timer.due_at().isoformat(),
    }

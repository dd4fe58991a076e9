"""An in-process LRU of entity states.

Never trusted blindly: a decision that appends is checked by the journal's unique version, and
a decision that appends nothing is confirmed against the database's current version. So a
stale entry (another process wrote) costs a re-decision, never a wrong answer.

It is kept fresh across processes, too: each append's notification names the process and the
entities it wrote, and every other process forgets those (``forget_written_elsewhere``). With
several API processes behind one port, half of all commands would otherwise find the entity
last written by another process, lose the version race, and be decided twice.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

Key = tuple[str, str]


class EntityCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Key, tuple[Any, int]] = OrderedDict()

    def get(self, key: Key) -> tuple[Any, int] | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Key, state: Any, version: int) -> None:
        if self.capacity <= 0:
            return
        self._entries[key] = (state, version)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def forget(self, key: Key) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


def forget_written_elsewhere(cache: EntityCache, origin: str) -> Callable[[str], None]:
    """A reader of the journal's append notifications (``origin [[type, id], …]``): the
    entities another process wrote leave this cache. ``""`` (the listener reconnected:
    anything may have been written meanwhile) empties it."""

    def heard(payload: str) -> None:
        if not payload:
            cache.clear()
            return
        sender, _, written = payload.partition(" ")
        if sender == origin or not written:
            return  # this process's own append, or one too big to list its entities
        try:
            entities = json.loads(written)
        except ValueError:
            cache.clear()
            return
        for entity_type, entity_id in entities:
            cache.forget((entity_type, entity_id))

    return heard

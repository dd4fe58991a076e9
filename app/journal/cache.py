"""An in-process LRU of entity states.

Never trusted blindly: a decision that appends is checked by the journal's unique version, and
a decision that appends nothing is confirmed against the database's current version. So a
stale entry (another process wrote) costs a re-decision, never a wrong answer.
"""

from __future__ import annotations

from collections import OrderedDict
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

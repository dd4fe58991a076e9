"""An in-process LRU of entity states.

Never trusted blindly: a decision that appends is checked by the journal's unique version, and
a decision that appends nothing is confirmed against the database's current version. So a
stale entry (another process wrote) costs a re-decision, never a wrong answer.

It is kept fresh across processes, too: each append's notification names the process and
carries the events it wrote, and every other process applies them to the entities it holds
(``follow_written_elsewhere``), as the writer did to its own. With several API processes
behind one port, half of all commands find the entity last written by another process: a
stale entry would lose the version race and be decided twice, and a forgotten one costs a
reload (a snapshot and up to ``SLUICE_SNAPSHOT_EVERY`` events read and folded). An event
that does not follow the held version (one missed, or the notification too big to carry the
events and naming the entities only) makes the entry be forgotten instead, never guessed.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.sdk.entity import EventSourcedEntity

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

    def peek(self, key: Key) -> tuple[Any, int] | None:
        """The entry, without counting as a use (a notification is not a command)."""
        return self._entries.get(key)

    def replace(self, key: Key, state: Any, version: int) -> None:
        """A held entry brought up to date, where it stands in the LRU order."""
        if key in self._entries:
            self._entries[key] = (state, version)

    def forget(self, key: Key) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


def follow_written_elsewhere(
    cache: EntityCache,
    origin: str,
    entities: Mapping[str, EventSourcedEntity[Any]],
    heard_another: Callable[[], None] = lambda: None,
) -> Callable[[str], None]:
    """A reader of the journal's append notifications: ``origin [[type, id, version, event
    type, schema version, data], …]`` (or ``[[type, id], …]``, names only). Another process's
    events are applied to the entries held here; ``""`` (the listener reconnected: anything
    may have been written meanwhile) empties the cache. ``heard_another`` is told whenever
    another process appended (so this one starts sending its own events)."""

    def heard(payload: str) -> None:
        if not payload:
            cache.clear()
            return
        sender, _, written = payload.partition(" ")
        if sender == origin:
            return  # this process's own append
        heard_another()
        if not written:
            return  # too big to list its entities
        try:
            entries = json.loads(written)
        except ValueError:
            cache.clear()
            return
        for entry in entries:
            key = (entry[0], entry[1])
            held = cache.peek(key)
            if held is None:
                continue
            after = _after(held, entry, entities.get(key[0])) if len(entry) == 6 else None
            if after is None:
                cache.forget(key)
            elif after is not held:
                cache.replace(key, *after)

    return heard


def _after(
    held: tuple[Any, int], entry: list[Any], entity: EventSourcedEntity[Any] | None
) -> tuple[Any, int] | None:
    """The entry once this event is in it (``held`` itself if it already was), or None
    when it cannot follow: a version missed, or an event this code cannot read."""
    state, version = held
    event_version = entry[2]
    if event_version <= version:
        return held  # reloaded since, or this process lost the race to it and re-read
    if event_version != version + 1 or entity is None:
        return None
    try:
        event = entity.event_from_stored(entry[3], entry[4], entry[5])
        return entity.apply(state, event), event_version
    except Exception:  # the writer's code is newer, say: the next command reloads
        return None

"""Event and correlation ids: version-4 UUIDs that never repeat, in one process or across a
fork (the buffer of kernel randomness is per process)."""

from __future__ import annotations

import os
import uuid

from app.journal.ids import random_uuid


def test_ids_are_version_4_and_distinct_across_many_buffers() -> None:
    ids = [random_uuid() for _ in range(5_000)]  # about 20 reads of the kernel's randomness
    assert len(set(ids)) == len(ids)
    assert {i.version for i in ids} == {4}
    assert {i.variant for i in ids} == {uuid.RFC_4122}
    assert all(uuid.UUID(str(i)) == i for i in ids[:100])


def test_a_forked_child_does_not_repeat_its_parents_next_ids() -> None:
    random_uuid()  # the parent holds a buffer with ids left in it
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's exit code is the assertion
        os.close(read)
        os.write(write, b"".join(random_uuid().bytes for _ in range(10)))
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        sent = pipe.read()
    os.waitpid(child, 0)
    childs = {uuid.UUID(bytes=sent[i : i + 16]) for i in range(0, len(sent), 16)}
    parents = {random_uuid() for _ in range(10)}
    assert len(childs) == 10
    assert not childs & parents

"""Random ids for events and correlations, without a system call each.

``uuid.uuid4()`` reads 16 bytes from ``os.urandom`` every time: one ``getrandom`` call per
id, two per command, and under load py-spy put ~4 % of the process there. Here the same
kernel randomness is read 4 KiB at a time and cut into ids. The ids are the same version-4
UUIDs with the same 122 random bits; a forked child starts its own buffer, so no two
processes ever share one.
"""

from __future__ import annotations

import os
import threading
import uuid

_IDS_PER_READ = 256
_random = b""
_taken = 0
_taking = threading.Lock()  # the event loop's thread, mostly; a worker thread may call too


def _forget_buffer() -> None:
    global _random, _taken, _taking
    _random, _taken, _taking = b"", 0, threading.Lock()  # a fork may copy the lock held


def random_uuid() -> uuid.UUID:
    """A version-4 UUID from the kernel's randomness, as ``uuid.uuid4()``."""
    global _random, _taken
    with _taking:
        if _taken >= len(_random):
            _random, _taken = os.urandom(16 * _IDS_PER_READ), 0
        chunk = _random[_taken : _taken + 16]
        _taken += 16
    return uuid.UUID(bytes=chunk, version=4)


os.register_at_fork(after_in_child=_forget_buffer)

"""Text PostgreSQL can hold: anything but U+0000, which text and jsonb both refuse.

A NUL that reached a query would fail it with a DataError (a 500), and one in a command's body
would fail the whole group commit it rode in, other clients' commands with it. So it is turned
away at the door: by a documented pattern on free-text parameters, and by BodyLimit in bodies.
"""

from __future__ import annotations

NO_NUL = r"^[^\x00]*$"  # for Query(pattern=...) / Path(pattern=...): a 422 if broken

_ESCAPED_NUL = b"\\u0000"


def json_holds_nul(body: bytes) -> bool:
    """Whether a JSON document has a ``\\u0000`` escape in a string (a raw NUL byte is not
    JSON at all, and the parser refuses it). ``\\\\u0000`` is a backslash, then text."""
    start = body.find(_ESCAPED_NUL)
    while start != -1:
        before = start  # the escape's own backslash is escaped itself if an odd run precedes it
        while before > 0 and body[before - 1] == 0x5C:
            before -= 1
        if (start - before) % 2 == 0:
            return True
        start = body.find(_ESCAPED_NUL, start + 1)
    return False

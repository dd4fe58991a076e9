"""Which log events a subscription wants: exact CloudEvents types, ``entity.*`` prefixes, or all."""

from __future__ import annotations

import re
from collections.abc import Iterable

PATTERN = re.compile(r"^(\*|[A-Za-z0-9_-]{1,100}\.(\*|[A-Za-z0-9_]{1,100}))$")


class BadPattern(ValueError):
    pass


def check_patterns(patterns: Iterable[str]) -> list[str]:
    checked = []
    for pattern in patterns:
        if not PATTERN.fullmatch(pattern):  # match() would let a trailing newline by
            raise BadPattern(
                f"{pattern!r} is not an event type: use 'patient.VitalsRecorded', "
                "'patient.*' or '*'"
            )
        checked.append(pattern)
    return sorted(set(checked))


def sql_wants(patterns: str, event_type: str) -> str:
    """SQL: whether the subscription patterns ``patterns`` (a jsonb array) take the CloudEvents
    type ``event_type``. None, or '*', is every type; 'x.*' every type starting 'x.'; any other
    pattern one exact type. (The dispatcher and a replay match in the database: both queue
    deliveries in the statement that reads the events.)"""
    return f"""(jsonb_array_length({patterns}) = 0 OR EXISTS (
    SELECT 1 FROM jsonb_array_elements_text({patterns}) AS p(pattern)
    WHERE p.pattern IN ('*', {event_type})
       OR (p.pattern LIKE '%%.*' AND starts_with({event_type}, left(p.pattern, -1)))))"""

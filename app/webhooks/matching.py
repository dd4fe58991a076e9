"""Which log events a subscription wants: exact CloudEvents types, ``entity.*`` prefixes, or all."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class TypeFilter:
    """Empty, or containing '*': everything."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]
    everything: bool

    @classmethod
    def of(cls, patterns: Iterable[str]) -> TypeFilter:
        patterns = list(patterns)
        prefixes = tuple(p[:-1] for p in patterns if p.endswith(".*"))
        exact = frozenset(p for p in patterns if not p.endswith("*"))
        return cls(exact, prefixes, not patterns or "*" in patterns)

    def matches(self, event_type: str) -> bool:
        return self.everything or event_type in self.exact or event_type.startswith(self.prefixes)

    def sql_params(self) -> dict[str, object]:
        return {
            "everything": self.everything,
            "exact": sorted(self.exact),
            "prefixes": list(self.prefixes),
        }


# Used with sql_params(); ``t`` is the event's CloudEvents type.
SQL_MATCHES = """(%(everything)s OR t = ANY(%(exact)s::text[])
    OR EXISTS (SELECT 1 FROM unnest(%(prefixes)s::text[]) AS p WHERE starts_with(t, p)))"""

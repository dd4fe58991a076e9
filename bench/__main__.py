"""python -m bench <name> [options]: run one benchmark (see bench/README in the main README)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "append": "bench.append",
    "relay": "bench.relay",
    "projection": "bench.projection",
    "webhooks": "bench.webhooks",
    "overhead": "bench.overhead",
    "streams": "bench.streams",
    "kafka": "bench.kafka",
    "scaling": "bench.scaling",
    "growth": "bench.growth",
    "workflows": "bench.workflows",
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        print(f"usage: python -m bench {{{'|'.join(BENCHMARKS)}}} [--help]", file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHMARKS[sys.argv[1]])
    return int(module.main(sys.argv[2:]) or 0)


raise SystemExit(main())

"""A Kafka-protocol cluster for development and tests: librdkafka's mock cluster.

The ``confluent-kafka`` wheel carries librdkafka, and librdkafka carries a mock cluster: real
brokers speaking the Kafka protocol on loopback ports, in memory (produce, fetch, consumer
groups, idempotent producers, topics created on first use). ``sluice kafka-dev`` runs one
and prints its bootstrap servers, so a system of services can use Kafka on a laptop with
nothing else installed. It keeps nothing on disk: stopping it loses every topic, which is
what a development broker should do, and never what a production one may.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from confluent_kafka import Producer


class DevCluster:
    def __init__(self, brokers: int = 3) -> None:
        self._client = Producer(
            {
                "test.mock.num.brokers": brokers,
                "bootstrap.servers": "",
                "log_level": 3,  # the mock's own notice lines are noise here
                "logger": _quiet,
            }
        )
        metadata = self._client.list_topics(timeout=10)
        brokers = [metadata.brokers[node] for node in sorted(metadata.brokers)]
        self.bootstrap = ",".join(f"{broker.host}:{broker.port}" for broker in brokers)

    def close(self) -> None:
        self._client.flush(1)


def _quiet(*_args: Any) -> None:
    pass


def add_commands(commands: Any) -> None:
    dev = commands.add_parser(
        "kafka-dev",
        help="run an in-memory Kafka-protocol cluster for development (librdkafka's mock)",
    )
    dev.add_argument("--brokers", type=int, default=3)
    dev.add_argument("--write-to", type=Path, help="also write the bootstrap servers here")
    dev.set_defaults(run=run_dev_cluster)


def run_dev_cluster(_settings: Any, args: argparse.Namespace) -> int:
    cluster = DevCluster(args.brokers)
    if args.write_to:
        args.write_to.write_text(cluster.bootstrap + "\n")
    print(f"SLUICE_KAFKA_BOOTSTRAP_SERVERS={cluster.bootstrap}", flush=True)
    print("in memory: topics go when this stops (Ctrl-C)", file=sys.stderr, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    cluster.close()
    return 0

"""A Kafka-protocol cluster for tests: ``sluice kafka-dev`` (librdkafka's mock brokers, on
loopback ports) in a process of its own, so a test can freeze it (SIGSTOP: a broker that
stops answering) and thaw it, and services reach it over TCP with their production client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition


class DevBroker:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.address_file = folder / f"kafka-{uuid.uuid4().hex[:8]}.txt"
        self.log = (folder / "kafka-dev.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "kafka-dev", "--write-to", str(self.address_file)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "SLUICE_LOG_LEVEL": "WARNING"},
        )
        deadline = time.monotonic() + 30
        while not self.address_file.exists() or not self.address_file.read_text().strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sluice kafka-dev did not start ({self.process.returncode})")
            time.sleep(0.05)
        self.bootstrap = self.address_file.read_text().strip()

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.process.poll() is not None:
            return
        self.thaw()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    def producer(self, **config: Any) -> Producer:
        return Producer({"bootstrap.servers": self.bootstrap, **config})

    def messages_in(self, topic: str) -> int:
        """Every message the topic holds (its partitions' high watermarks, added up)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "watermarks"})
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            return sum(
                consumer.get_watermark_offsets(TopicPartition(topic, number), timeout=10)[1]
                for number in partitions
            )
        finally:
            consumer.close()

    def read_all(self, topic: str, count: int, seconds: float = 30) -> list[Any]:
        """At least ``count`` messages of ``topic``, from the beginning (a group of its own)."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        found: list[Any] = []
        deadline = time.monotonic() + seconds
        try:
            while len(found) < count and time.monotonic() < deadline:
                found += [m for m in consumer.consume(1000, 0.5) if m.error() is None]
        finally:
            consumer.close()
        return found


def topic_name(what: str) -> str:
    return f"{what}.{uuid.uuid4().hex[:8]}"

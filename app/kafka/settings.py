"""Where the Kafka cluster is, how to reach it, and which streams and subscriptions use it.

``SLUICE_KAFKA_BOOTSTRAP_SERVERS`` names the brokers; the security settings and
``SLUICE_KAFKA_CONFIG`` (any other librdkafka property, as JSON) are passed straight to the
client. ``SLUICE_KAFKA_PUBLISH`` maps this service's streams to topics (``alerts=ward.alerts``);
``SLUICE_KAFKA_SUBSCRIBE`` switches subscriptions to another service's stream from HTTP to a
topic (``ward/alerts=ward.alerts``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import field_validator

from app.config import SettingsGroup, setting

TOPIC_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def _mapping(value: Any, what: str) -> dict[str, str]:
    """``a=x,b=y`` or a JSON object, into ``{"a": "x", "b": "y"}``."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            value = json.loads(text)
        else:
            pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
            if any(len(pair) != 2 for pair in pairs):
                raise ValueError(f"{what}: write name=topic pairs separated by commas")
            value = {name.strip(): topic.strip() for name, topic in pairs}
    if not isinstance(value, dict):
        raise ValueError(f"{what}: name=topic pairs or a JSON object")
    for topic in value.values():
        if not topic or not set(str(topic)) <= TOPIC_CHARACTERS or len(str(topic)) > 249:
            raise ValueError(f"{what}: {topic!r} is not a Kafka topic name")
    return {str(name): str(topic) for name, topic in value.items()}


class KafkaSettings(SettingsGroup):
    bootstrap_servers: str | None = setting(
        None,
        "kafka_bootstrap_servers",
        "Kafka brokers, host:port,host:port. Unset: nothing is published to or read from Kafka.",
    )
    security_protocol: str = setting(
        "plaintext",
        "kafka_security_protocol",
        "plaintext, ssl, sasl_plaintext or sasl_ssl (librdkafka's security.protocol).",
        pattern=r"^(?i:plaintext|ssl|sasl_plaintext|sasl_ssl)$",
    )
    sasl_mechanism: str | None = setting(
        None, "kafka_sasl_mechanism", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER."
    )
    sasl_username: str | None = setting(None, "kafka_sasl_username", "SASL user name.")
    sasl_password: str | None = setting(None, "kafka_sasl_password", "SASL password.")
    ssl_ca_location: str | None = setting(
        None, "kafka_ssl_ca_location", "CA certificate file for TLS to the brokers."
    )
    client_config: dict[str, str] = setting(
        {},
        "kafka_config",
        "Any other librdkafka properties, as a JSON object (passed to every client).",
    )
    publish: dict[str, str] = setting(
        {},
        "kafka_publish",
        "This service's streams published to topics: stream=topic,... (or JSON).",
    )
    subscribe: dict[str, str] = setting(
        {},
        "kafka_subscribe",
        "Subscriptions read from a topic instead of over HTTP: service/stream=topic,...",
    )
    publish_batch: int = setting(
        5000,
        "kafka_publish_batch",
        "Events a publisher sends per batch; it sends on while up to three batches wait for"
        " their acknowledgements.",
        ge=1,
    )
    consume_batch: int = setting(
        5000,
        "kafka_consume_batch",
        "Messages a topic consumer takes per call (split by partition, one transaction each).",
        ge=1,
    )

    @field_validator("client_config", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ValueError("a JSON object of librdkafka properties")
        return {str(key): str(item) for key, item in value.items()}

    @field_validator("publish", mode="before")
    @classmethod
    def _publish(cls, value: Any) -> dict[str, str]:
        return _mapping(value, "SLUICE_KAFKA_PUBLISH")

    @field_validator("subscribe", mode="before")
    @classmethod
    def _subscribe(cls, value: Any) -> dict[str, str]:
        return _mapping(value, "SLUICE_KAFKA_SUBSCRIBE")

    def client(self, **overrides: Any) -> dict[str, Any]:
        """librdkafka properties for a producer or consumer: these settings, then overrides."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers or "",
            "security.protocol": self.security_protocol.lower(),
            # librdkafka's own lines through logging (JSON like every other line), not
            # straight to stderr
            "logger": logging.getLogger("sluice.kafka.client"),
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_ca_location,
        }
        config.update({key: value for key, value in optional.items() if value})
        config.update(self.client_config)
        config.update(overrides)
        return config

"""openapi/asyncapi.yaml describes the WebSocket protocol the code speaks."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.journal.cloudevents import CloudEvent
from app.stream.subscription import (
    BAD_MESSAGE,
    GOING_AWAY,
    INTERNAL_ERROR,
    KEY_REVOKED,
    SLOW_CONSUMER,
    TRY_AGAIN_LATER,
    UNSUPPORTED_DATA,
    SubscribeMessage,
)

DOCUMENT = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "openapi" / "asyncapi.yaml").read_text()
)
MESSAGES = DOCUMENT["components"]["messages"]


def test_it_is_asyncapi_3_with_the_events_channel() -> None:
    assert DOCUMENT["asyncapi"].startswith("3.")
    assert DOCUMENT["channels"]["events"]["address"] == "/ws/events"


def test_the_subscribe_message_matches_the_model() -> None:
    documented = set(MESSAGES["subscribe"]["payload"]["properties"])
    assert documented == set(SubscribeMessage.model_fields)


def test_the_event_message_matches_the_cloud_event_model() -> None:
    documented = set(MESSAGES["cloudEvent"]["payload"]["properties"])
    assert documented == set(CloudEvent.model_fields)


def test_close_codes_are_documented() -> None:
    description = DOCUMENT["info"]["description"]
    assert f"{SLOW_CONSUMER} slow consumer" in description
    assert f"{BAD_MESSAGE} bad client message" in description
    assert f"{GOING_AWAY} going away" in description
    assert f"{UNSUPPORTED_DATA} unsupported data" in description
    assert f"{INTERNAL_ERROR} internal error" in description
    assert f"{TRY_AGAIN_LATER} try again later" in description
    assert f"{KEY_REVOKED} key revoked" in description

"""The JSON log line: one object, its fields, the request id of the request it was written in."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

from app.api.logs import JsonFormatter, request_id_var


def line(**extra: object) -> dict[str, object]:
    record = logging.LogRecord("sluice.steps", logging.INFO, "", 0, "sequenced %d", (3,), None)
    record.__dict__.update(extra)
    return dict(json.loads(JsonFormatter().format(record)))


def test_a_line_is_one_json_object_with_its_fields_and_utc_time() -> None:
    found = line(fields={"step": "sequence", "events": 3})
    assert found["message"] == "sequenced 3" and found["level"] == "info"
    assert found["step"] == "sequence" and found["events"] == 3
    written = datetime.strptime(str(found["time"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(written.timestamp() - time.time()) < 5


def test_the_request_id_rides_on_every_line_written_during_the_request() -> None:
    token = request_id_var.set("req-42")
    try:
        assert line()["request_id"] == "req-42"
    finally:
        request_id_var.reset(token)
    assert "request_id" not in line()


def test_other_libraries_extra_fields_are_kept_but_not_their_coloured_copies() -> None:
    found = line(peer="127.0.0.1", color_message="\x1b[36m…")
    assert found["peer"] == "127.0.0.1" and "color_message" not in found

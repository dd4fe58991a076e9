"""A system file for `sluice up`: the links come from the services' own subscriptions, and a
file that cannot work is refused with one clear line before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigurationError
from app.systems.plan import bundled_system, read_system

WARD = '[services.ward]\nservice = "app.services.ward:service"\nport = 8000\n'
OUTREACH = '[services.outreach]\nservice = "app.services.outreach:service"\nport = 8001\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "system.toml"
    path.write_text(text)
    return path


def test_the_hospital_links_each_reader_to_the_streams_it_subscribes_to() -> None:
    system = read_system(bundled_system())
    assert set(system.entries) == {"ward", "outreach"}
    links = {(link.consumer, link.producer, link.streams) for link in system.links}
    assert links == {("outreach", "ward", ("alerts",)), ("ward", "outreach", ("callouts",))}
    assert system.reads("outreach")[0].scopes == "streams:read:alerts"
    assert system.url("outreach") == "http://127.0.0.1:8001"


def test_sluice_up_kafka_sends_every_link_through_a_topic_named_after_it() -> None:
    from app.cli.up import kafka_environments

    found = kafka_environments(read_system(bundled_system()), "127.0.0.1:9092")
    assert found == {
        "ward": {
            "SLUICE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
            "SLUICE_KAFKA_PUBLISH": "alerts=ward.alerts",
            "SLUICE_KAFKA_SUBSCRIBE": "outreach/callouts=outreach.callouts",
        },
        "outreach": {
            "SLUICE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
            "SLUICE_KAFKA_PUBLISH": "callouts=outreach.callouts",
            "SLUICE_KAFKA_SUBSCRIBE": "ward/alerts=ward.alerts",
        },
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (WARD, "ward subscribes to outreach/callouts, and outreach is not in this system"),
        (WARD + OUTREACH.replace("8001", "8000"), "two services on one port"),
        (WARD.replace("[services.ward]", "[services.icu]") + OUTREACH, "whose name is 'ward'"),
        (WARD + OUTREACH + "colour = 'blue'\n", "services.outreach.colour"),
        (WARD + OUTREACH.replace("port = 8001", "port = 0"), "services.outreach.port"),
        ("[services.ward\n", "not TOML"),
        (WARD + OUTREACH + 'env = { DATABASE_URL = "x" }\n', "only SLUICE_"),
        ("[services.x]\nservice = 'nowhere:service'\nport = 1\n", "no module 'nowhere'"),
    ],
)
def test_a_system_that_cannot_work_is_refused_in_one_line(
    tmp_path: Path, text: str, says: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        read_system(write(tmp_path, text))
    assert says in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="No such file"):
        read_system(tmp_path / "nope.toml")

"""Services talking through events, through faults: real `sluice serve` processes, each service
on its own database, real HTTP between them. Whatever is killed and when, the consumer ends
with each upstream event applied once: its view is the fold of the stream, and its action's
commands ran once each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.auth import AUTH_HEADERS
from tests.support.system_processes import (
    Hospital,
    consumer,
    deteriorate,
    each_applied_once,
    outreach_caught_up,
    ward_head,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(300)


async def test_a_late_consumer_killed_mid_batch_catches_up_the_whole_history_once(
    tmp_path: Path, database_url: str, outreach_database_url: str
) -> None:
    hospital = Hospital(tmp_path, database_url, outreach_database_url, page_size=5)
    try:
        hospital.ward()
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=10) as http:
            http.base_url = hospital.ward_url
            await deteriorate(http, range(40))  # history before outreach ever ran
            head = ward_head(database_url)

            first = hospital.outreach()  # starts late: reads the whole stream from 0

            async def midway() -> dict | None:
                status = await consumer(http, first.url, "alert-callouts")
                return status if 0 < status["checkpoint"] < head else None

            await eventually(midway, 60, "alert-callouts midway")
            first.kill()  # kill -9, a page applied or half-way through one

            second = hospital.outreach()
            await outreach_caught_up(http, second.url, head)
        each_applied_once(outreach_database_url, 40)
    finally:
        hospital.close()


async def test_a_producer_killed_mid_page_and_down_a_while_loses_nothing(
    tmp_path: Path, database_url: str, outreach_database_url: str
) -> None:
    hospital = Hospital(tmp_path, database_url, outreach_database_url, page_size=5)
    try:
        ward = hospital.ward()
        outreach = hospital.outreach()
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=10) as http:
            http.base_url = hospital.ward_url
            await deteriorate(http, range(30))
            ward.kill()  # while outreach reads its pages

            async def unavailable() -> dict | None:
                status = await consumer(http, outreach.url, "alert-callouts")
                return status if status["state"] == "upstream-unavailable" else None

            down = await eventually(unavailable, 30, "upstream-unavailable")
            assert "cannot reach" in down["upstream_error"]
            assert down["upstream_failing_since"] is not None

            async def down_a_while() -> dict | None:  # asked again, with backoff, meanwhile
                status = await consumer(http, outreach.url, "alert-callouts")
                since = datetime.fromisoformat(status["upstream_failing_since"])
                return status if datetime.now(UTC) - since >= timedelta(seconds=3) else None

            still = await eventually(down_a_while, 30, "the producer down for 3 s")
            assert still["state"] == "upstream-unavailable"

            hospital.ward()  # back, on the same port and data
            await deteriorate(http, range(30, 50))
            await outreach_caught_up(http, outreach.url, ward_head(database_url))
            status = await consumer(http, outreach.url, "alert-callouts")
            assert status["upstream_error"] is None and status["lag_events"] == 0
        each_applied_once(outreach_database_url, 50)
    finally:
        hospital.close()


async def test_two_consumer_processes_one_leads_and_the_other_takes_over(
    tmp_path: Path, database_url: str, outreach_database_url: str
) -> None:
    hospital = Hospital(tmp_path, database_url, outreach_database_url, page_size=50)
    try:
        hospital.ward()
        one, two = hospital.outreach(), hospital.outreach()
        by_pid = {one.process.pid: one, two.process.pid: two}
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=10) as http:
            http.base_url = hospital.ward_url
            await deteriorate(http, range(20))
            await outreach_caught_up(http, one.url, ward_head(database_url))
            leader = (await consumer(http, one.url, "alert-callouts"))["leader"]
            leading = by_pid[int(leader.split(":")[1])]
            standby = two if leading is one else one
            leading.kill()

            await deteriorate(http, range(20, 35))

            async def taken_over() -> dict | None:
                status = await consumer(http, standby.url, "alert-callouts")
                return (
                    status if status["leader"].split(":")[1] == str(standby.process.pid) else None
                )

            await eventually(taken_over, 30, "the standby leading alert-callouts")
            await outreach_caught_up(http, standby.url, ward_head(database_url))
        each_applied_once(outreach_database_url, 35)
    finally:
        hospital.close()


async def test_a_producer_stopping_answers_its_long_polls_at_once(
    tmp_path: Path, database_url: str, outreach_database_url: str
) -> None:
    """A reader's long poll (up to 30 s) must not hold up a producer's SIGTERM: it is answered
    (an empty page, the reader asks again), and the process is gone in seconds."""
    hospital = Hospital(tmp_path, database_url, outreach_database_url, page_size=5)
    try:
        ward = hospital.ward()
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=40) as http:
            head = (await http.get(f"{ward.url}/streams/alerts")).json()["head"]
            polling = asyncio.create_task(
                http.get(f"{ward.url}/streams/alerts", params={"after": head, "wait": 30})
            )
            await asyncio.sleep(1)
            assert not polling.done()
            started = asyncio.get_running_loop().time()
            ward.terminate()
            answer = await asyncio.wait_for(polling, 10)
            assert answer.status_code == 200 and answer.json()["events"] == []
            assert await asyncio.to_thread(ward.process.wait, 20) == 0
            assert asyncio.get_running_loop().time() - started < 10
    finally:
        hospital.close()

"""How long a consumer that caught up with the log waits before its next batch.

Each batch costs several round trips whatever its size, on the event loop that also serves
requests: at 1,000 events/s a consumer woken by every sequencer batch took a quarter of a
busy process's time for batches of two or three events, and delayed everything else on its
loop. So under a steady stream a consumer starts at most one batch per interval. Pacing only
follows a batch that caught up with the head: an event after a quiet spell goes at once,
and a backlog drains at full speed.

The interval is ``min_interval`` while the process has time to spare, longer while it is
busy. After each paced wait the consumer yields to the loop once and times how long its
turn takes to come back: a few hundredths of a millisecond when the loop has nothing else
ready, milliseconds when requests fill it (whatever the loop; a timer's own lateness is
not a measure: asyncio's wake ~2 ms late even idle). The interval grows with that delay,
up to ``max_interval``: a saturated process makes fewer, bigger batches and leaves the
time to requests (1.14x the commands at 50 ms than at 10 ms, on the 2-core box of the
benchmarks), while a view's freshness costs only ``min_interval`` whenever there is time.
"""

from __future__ import annotations

import asyncio
import time

# A turn back within SLACK is an idle loop's. Each second more adds GAIN seconds to the
# interval (a loop full of requests took 0.6 ms at the median, 2.5 ms at p90: +25-50 ms).
# Each wait weighs WEIGHT in the moving average of that delay (about the last ten count).
SLACK = 0.0001
GAIN = 40.0
WEIGHT = 0.1


class Pacing:
    def __init__(self, min_interval: float, max_interval: float) -> None:
        self.min_interval = min_interval  # 0: no pacing at all
        self.max_interval = max(max_interval, min_interval)
        self.interval = min_interval  # the wait between batches, for now
        self.busy = 0.0  # how long the loop took to come back past SLACK, a moving average

    async def wait_after(self, caught_up_at: float) -> bool:
        """Wait until ``interval`` after ``caught_up_at`` (a ``time.monotonic()``); whether
        that took any waiting at all."""
        due = caught_up_at + self.interval
        wait = due - time.monotonic()
        if wait <= 0:
            return False
        await asyncio.sleep(wait)
        yielded = time.monotonic()
        await asyncio.sleep(0)  # one turn of the loop: how much else is ready to run
        self._turn_took(time.monotonic() - yielded)
        return True

    def _turn_took(self, seconds: float) -> None:
        self.busy += WEIGHT * (max(seconds - SLACK, 0.0) - self.busy)
        if self.min_interval:
            grown = self.min_interval + GAIN * self.busy
            self.interval = min(grown, self.max_interval)

"""A webhook receiver for benchmarks: uvicorn, always 200, counting what arrives.

Run as ``python -m bench.receiver PORT``. ``GET /stats`` returns how many deliveries arrived
and, for each, the milliseconds from the event's time (its commit, on the same clock) to its
arrival; ``POST /reset`` starts over.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any

import uvicorn

arrivals: list[float] = []
lags_ms: list[float] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path, method = scope["path"], scope["method"]
    answer = b"{}"
    if method == "POST" and path == "/reset":
        arrivals.clear()
        lags_ms.clear()
    elif method == "GET" and path == "/stats":
        answer = json.dumps(
            {"count": len(arrivals), "arrivals": arrivals, "lags_ms": lags_ms}
        ).encode()
    elif method == "POST":
        now = time.time()
        arrivals.append(now)
        event = json.loads(body)
        if "time" in event:
            lags_ms.append((now - datetime.fromisoformat(event["time"]).timestamp()) * 1000)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": answer})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)

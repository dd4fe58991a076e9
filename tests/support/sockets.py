"""WebSocket test helpers: the stream's URL, and a client socket that reads slowly."""

from __future__ import annotations

import socket


def ws_url(base: str, query: str = "") -> str:
    return base.replace("http://", "ws://") + "/ws/events" + (f"?{query}" if query else "")


def small_buffer_socket(base: str) -> socket.socket:
    """A client socket that takes little before pushing back, as a slow reader's would."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    host, port = base.removeprefix("http://").split(":")
    client.connect((host, int(port)))
    return client

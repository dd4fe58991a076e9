"""The console: a live ward board and an operator view, as static files the app serves.

Plain HTML, CSS and JavaScript modules with no build step: what is in ``static/`` is what the
browser runs, and nothing is fetched from anywhere else. The files themselves are public (the
page asks for an API key and keeps it in sessionStorage); every request the page makes, and
its WebSocket, carries that key.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"

# The page holds an API key: only its own files may run, and it talks only to its own origin
# ('self' covers ws:/wss: to the same host). No inline script or style is needed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (ETag): an upgraded server never runs with yesterday's modules.
    "Cache-Control": "no-cache",
}


class ConsoleFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def console_files() -> ConsoleFiles:
    """The console's files, to mount at /console (``index.html`` answers /console/)."""
    return ConsoleFiles(directory=STATIC_DIR, html=True)

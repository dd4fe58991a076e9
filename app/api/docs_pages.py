"""/docs (Swagger UI) and /redoc, served entirely from the package.

FastAPI's pages load their scripts from a public CDN with no integrity check: a page where
people paste API keys, running whatever that host serves (and blank without internet). Here
the files come from a pinned wheel (``fastapi-offline``, which ships Swagger UI and ReDoc)
and the pages carry the console's Content-Security-Policy: scripts from this origin only,
none inline, requests to this origin only. ReDoc styles itself with injected <style> tags and
renders in a worker, so its page alone also allows inline styles and blob: workers.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app.console import SECURITY_HEADERS

PAGES = Path(__file__).parent / "docs_static"
REDOC_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"]
    + "; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:",
}


class DocsAssets(StaticFiles):
    """Swagger UI's and ReDoc's files (the wheel's), and our own initializer."""

    def __init__(self) -> None:
        super().__init__(directory=str(files("fastapi_offline") / "static"))
        self.own = StaticFiles(directory=PAGES)

    async def get_response(self, path: str, scope: Scope) -> Response:
        source = self.own if path.endswith("-init.js") else super()
        response = await source.get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def install_docs(app: FastAPI, title: str) -> None:
    swagger = (PAGES / "swagger.html").read_text().replace("{title}", title)
    redoc = (PAGES / "redoc.html").read_text().replace("{title}", title)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger, headers=SECURITY_HEADERS)

    @app.get("/redoc", include_in_schema=False)
    async def redoc_page() -> HTMLResponse:
        return HTMLResponse(redoc, headers=REDOC_HEADERS)

    app.mount("/docs/assets", DocsAssets(), name="docs-assets")

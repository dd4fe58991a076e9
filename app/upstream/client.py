"""Reading a producer's public stream over HTTP: ``GET /streams/{id}`` pages and long polls.

One ``httpx.AsyncClient`` per producer, kept alive. A caught-up reader asks the producer to
hold the request (``wait``) until its log moves, so an event reaches the consumer one HTTP
answer after the producer sequenced it, without polling. Everything that is not a page (the
producer down, a refused key, an unknown stream, an answer that is not JSON) is an
``UpstreamUnavailable`` whose message says which, for the consumer's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic_core import from_json

from app.upstream.settings import UpstreamEndpoint, UpstreamSettings, variable

# (the producer's seq, the public CloudEvent as JSON; once decoded, this service's event)
Row = tuple[int, Any]


class UpstreamUnavailable(Exception):
    """The producer's stream cannot be read now; the message says why."""


@dataclass(frozen=True)
class UpstreamPage:
    rows: list[Row]
    next_after: int
    head: int


class StreamClient:
    def __init__(
        self,
        service: str,
        stream: str,
        endpoint: UpstreamEndpoint | None,
        settings: UpstreamSettings,
    ) -> None:
        self.service = service
        self.stream = stream
        self.settings = settings
        self.endpoint = endpoint or UpstreamEndpoint()
        self._http: httpx.AsyncClient | None = None

    @property
    def url(self) -> str:
        return f"{self.endpoint.url}/streams/{self.stream}"

    def _client(self) -> httpx.AsyncClient:
        if self.endpoint.url is None:
            raise UpstreamUnavailable(
                f"{variable(self.service, 'url')} is not set: where is service {self.service}?"
            )
        if self._http is None:
            headers = {"Accept": "application/json"}
            if self.endpoint.key:
                headers["Authorization"] = f"Bearer {self.endpoint.key}"
            timeout = httpx.Timeout(self.settings.timeout_seconds + self.settings.wait_seconds)
            self._http = httpx.AsyncClient(headers=headers, timeout=timeout)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def page(
        self, after: int, limit: int, *, wait: float = 0.0, upto: int | None = None
    ) -> UpstreamPage:
        params: dict[str, Any] = {"after": after, "limit": limit}
        if wait > 0:
            params["wait"] = wait
        if upto is not None:
            params["upto"] = upto
        try:
            answer = await self._client().get(self.url, params=params)
        except httpx.HTTPError as error:
            raise UpstreamUnavailable(
                f"cannot reach {self.url}: {type(error).__name__} {error}".strip()
            ) from None
        if answer.status_code != 200:
            raise UpstreamUnavailable(_refusal(self.url, answer))
        return _page(self.url, answer.content)

    async def head(self) -> int:
        return (await self.page(0, 1)).head


def _refusal(url: str, answer: httpx.Response) -> str:
    detail = ""
    try:
        problem = from_json(answer.content)
        detail = str(problem.get("detail") or problem.get("title") or "")
    except ValueError:
        detail = answer.text[:200]
    what = {
        401: "the producer refused the key",
        403: "the key may not read this stream",
        404: "the producer has no such stream",
    }.get(answer.status_code, "the producer answered")
    return f"{what} ({answer.status_code} from {url}): {detail}".rstrip(": ")


def _page(url: str, content: bytes) -> UpstreamPage:
    try:
        body = from_json(content)
        rows = [(int(event["seq"]), event) for event in body["events"]]
        return UpstreamPage(rows, int(body["next_after"]), int(body["head"]))
    except (ValueError, KeyError, TypeError) as error:
        raise UpstreamUnavailable(
            f"{url} answered something that is not a stream page ({error})"
        ) from None

"""Webhook subscriptions over HTTP: manage them, watch their deliveries, redeliver."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from app.api.problems import ProblemError, problem_responses
from app.keys.auth import api_key, check_scopes, require
from app.keys.scopes import ADMIN, EVENTS_READ
from app.keys.store import Principal
from app.runtime import runtime_of
from app.webhooks.deliveries import Deliveries
from app.webhooks.matching import BadPattern, check_patterns
from app.webhooks.models import (
    DeliveryPage,
    Queued,
    SecretRotated,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookUpdate,
)
from app.webhooks.subscriptions import Subscriptions
from app.webhooks.urlguard import ForbiddenURL, resolve

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def _owner(principal: Annotated[Principal, Depends(api_key)]) -> uuid.UUID | None:
    """Whose subscriptions the caller reaches: its own; an admin key's, everyone's (None)."""
    return None if ADMIN in principal.scopes else principal.key_id


# The calling key's own subscriptions only (admin: all). A subscription of another key is
# answered 404, as if it did not exist: its id tells nothing.
Owner = Annotated[uuid.UUID | None, Depends(_owner)]
# Choosing which events go where is reading them: it needs events:read besides.
Reader = Annotated[Principal, require(EVENTS_READ)]


def _subscriptions(request: Request) -> Subscriptions:
    subscriptions: Subscriptions = runtime_of(request.scope).webhooks
    return subscriptions


def _deliveries(request: Request) -> Deliveries:
    deliveries: Deliveries = runtime_of(request.scope).deliveries
    return deliveries


async def _checked_url(request: Request, url: str) -> str:
    try:
        await resolve(url, allow_private=runtime_of(request.scope).settings.webhooks.allow_private)
    except ForbiddenURL as refused:
        raise ProblemError(422, "forbidden-url", "URL not allowed", str(refused)) from None
    return url


def _checked_types(types: list[str]) -> list[str]:
    try:
        return check_patterns(types)
    except BadPattern as bad:
        raise ProblemError(422, "bad-event-type", "Invalid event type", str(bad)) from None


async def _existing(request: Request, webhook_id: uuid.UUID, owner: uuid.UUID | None) -> dict:
    row = await _subscriptions(request).get(webhook_id, owner)
    if row is None:
        raise _no_webhook(webhook_id)
    return row


def _no_webhook(webhook_id: uuid.UUID) -> ProblemError:
    """Also what another key's subscription answers: its id tells nothing."""
    return ProblemError(404, "not-found", "Not found", f"no webhook {webhook_id}")


@router.post(
    "",
    status_code=201,
    summary="Subscribe a URL to events; the secret is in this answer only",
    response_model=WebhookCreated,
    responses=problem_responses(422),
)
async def create_webhook(request: Request, body: WebhookCreate, reader: Reader) -> WebhookCreated:
    url = await _checked_url(request, body.url)
    row, secret = await _subscriptions(request).create(
        owner=reader.key_id,
        url=url,
        event_types=_checked_types(body.event_types),
        description=body.description,
        enabled=body.enabled,
        ordered=body.ordered,
    )
    return WebhookCreated(**Webhook.from_row(row).model_dump(), secret=secret)


@router.get("", summary="Every subscription, with its health", response_model=list[Webhook])
async def list_webhooks(request: Request, owner: Owner) -> list[Webhook]:
    return [Webhook.from_row(row) for row in await _subscriptions(request).list(owner)]


@router.get(
    "/{webhook_id}",
    summary="One subscription",
    response_model=Webhook,
    responses=problem_responses(404, 422),
)
async def get_webhook(request: Request, webhook_id: uuid.UUID, owner: Owner) -> Webhook:
    return Webhook.from_row(await _existing(request, webhook_id, owner))


@router.patch(
    "/{webhook_id}",
    summary="Change a subscription (enabling it again clears its failure state)",
    response_model=Webhook,
    responses=problem_responses(404, 422),
)
async def update_webhook(
    request: Request, webhook_id: uuid.UUID, body: WebhookUpdate, owner: Owner
) -> Webhook:
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(name) is not None for name in ("url", "event_types")) or changes.get(
        "enabled"
    ):
        check_scopes(request.scope, EVENTS_READ)  # it changes which events go where
    if changes.get("url") is not None:
        await _checked_url(request, changes["url"])
    if changes.get("event_types") is not None:
        changes["event_types"] = _checked_types(changes["event_types"])
    changes = {key: value for key, value in changes.items() if value is not None}
    row = await _subscriptions(request).update(webhook_id, owner, changes)
    if row is None:
        raise _no_webhook(webhook_id)
    return Webhook.from_row(row)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    summary="Delete a subscription and its deliveries",
    responses=problem_responses(404, 422),
)
async def delete_webhook(request: Request, webhook_id: uuid.UUID, owner: Owner) -> Response:
    if not await _subscriptions(request).delete(webhook_id, owner):
        raise _no_webhook(webhook_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    summary="A new secret, signing at once; the previous one keeps signing for a grace period",
    response_model=SecretRotated,
    responses=problem_responses(404, 422),
)
async def rotate_secret(request: Request, webhook_id: uuid.UUID, owner: Owner) -> SecretRotated:
    grace = runtime_of(request.scope).settings.webhooks.secret_grace_seconds
    rotated = await _subscriptions(request).rotate(webhook_id, owner, grace)
    if rotated is None:
        raise _no_webhook(webhook_id)
    secret, expires = rotated
    return SecretRotated(secret=secret, previous_secret_expires_at=expires)


@router.get(
    "/{webhook_id}/deliveries",
    summary="Deliveries, newest first, with every attempt",
    response_model=DeliveryPage,
    responses=problem_responses(404, 422),
)
async def list_deliveries(
    request: Request,
    webhook_id: uuid.UUID,
    owner: Owner,
    status: Literal["pending", "succeeded", "failed"] | None = None,
    before: Annotated[
        int | None, Query(ge=1, description="Only deliveries older than this id.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryPage:
    await _existing(request, webhook_id, owner)
    rows = await _deliveries(request).list(
        webhook_id, status=status, before=before, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return DeliveryPage.model_validate(
        {"deliveries": rows, "next_before": rows[-1]["id"] if more else None}
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=202,
    summary="Send a finished (succeeded or failed) delivery again, from its first attempt",
    response_model=Queued,
    responses=problem_responses(404, 409, 422),
)
async def retry_delivery(
    request: Request, webhook_id: uuid.UUID, delivery_id: int, owner: Owner, reader: Reader
) -> Queued:
    await _existing(request, webhook_id, owner)
    outcome = await _deliveries(request).retry(webhook_id, delivery_id)
    if outcome == "missing":
        raise ProblemError(
            404, "not-found", "Not found", f"this webhook has no delivery {delivery_id}"
        )
    if outcome == "pending":
        raise ProblemError(
            409,
            "not-retryable",
            "Nothing to retry",
            f"delivery {delivery_id} is still pending: it will be tried on its schedule",
        )
    return Queued(queued=1, delivery_id=delivery_id)


@router.post(
    "/{webhook_id}/replay",
    status_code=202,
    summary="Send again every matching event after a seq (receivers dedupe on webhook-id)",
    response_model=Queued,
    responses=problem_responses(404, 422),
)
async def replay(
    request: Request,
    webhook_id: uuid.UUID,
    after: Annotated[int, Query(ge=0, description="Replay the events with a larger seq.")],
    owner: Owner,
    reader: Reader,
) -> Queued:
    await _existing(request, webhook_id, owner)  # 404 unless it is the caller's
    queued = await _deliveries(request).replay(webhook_id, after)
    return Queued(queued=queued)


@router.post(
    "/{webhook_id}/test",
    status_code=202,
    summary="Send a sluice.ping event to check the receiver and its signature checks",
    response_model=Queued,
    responses=problem_responses(404, 422),
)
async def test_ping(request: Request, webhook_id: uuid.UUID, owner: Owner) -> Queued:
    await _existing(request, webhook_id, owner)
    service = runtime_of(request.scope).service_name
    payload = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"/sluice/{service}",
        "type": "sluice.ping",
        "subject": str(webhook_id),
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {"webhook_id": str(webhook_id)},
    }
    delivery_id = await _deliveries(request).ping(webhook_id, payload)
    return Queued(queued=1, delivery_id=delivery_id)

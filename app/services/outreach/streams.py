"""What outreach tells other services: its ``callouts`` stream (subject: the patient's id).

The ward reads it to show each patient's callout status on its board. How a callout ended
(the outcome note) stays private: it is a clinical record of the outreach team's.
"""

from __future__ import annotations

from pydantic import Field

from app.sdk import EventMeta, PublicEvent, Stream
from app.services.outreach.callout import (
    CalloutAccepted,
    CalloutCompleted,
    CalloutRequested,
    CalloutStoodDown,
    ResponderArrived,
)


class PublicCalloutRequested(PublicEvent, type_name="outreach.CalloutRequested"):
    callout: int = Field(description="The patient's callout number.")
    reason: str


class PublicCalloutAccepted(PublicEvent, type_name="outreach.CalloutAccepted"):
    responder: str


class PublicResponderArrived(PublicEvent, type_name="outreach.ResponderArrived"):
    pass


class PublicCalloutCompleted(PublicEvent, type_name="outreach.CalloutCompleted"):
    pass


class PublicCalloutStoodDown(PublicEvent, type_name="outreach.CalloutStoodDown"):
    reason: str


callouts_stream = Stream(
    "callouts", description="The outreach team's callouts: requested, accepted, arrived, ended."
)


@callouts_stream.publishes
def requested(event: CalloutRequested, meta: EventMeta) -> PublicCalloutRequested:
    return PublicCalloutRequested(callout=event.callout, reason=event.reason)


@callouts_stream.publishes
def accepted(event: CalloutAccepted, meta: EventMeta) -> PublicCalloutAccepted:
    return PublicCalloutAccepted(responder=event.responder)


@callouts_stream.publishes
def arrived(event: ResponderArrived, meta: EventMeta) -> PublicResponderArrived:
    return PublicResponderArrived()


@callouts_stream.publishes
def completed(event: CalloutCompleted, meta: EventMeta) -> PublicCalloutCompleted:
    return PublicCalloutCompleted()


@callouts_stream.publishes
def stood_down(event: CalloutStoodDown, meta: EventMeta) -> PublicCalloutStoodDown:
    return PublicCalloutStoodDown(reason=event.reason)

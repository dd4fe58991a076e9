"""What a service author imports."""

from app.sdk.action import Action
from app.sdk.entity import Decision, EventSourcedEntity, Reply
from app.sdk.events import Command, Event, Rejection
from app.sdk.service import Service
from app.sdk.streams import PublicEvent, Stream, Subscription
from app.sdk.timers import CancelTimer, Send, Timer
from app.sdk.view import EventMeta, View

__all__ = [
    "Action",
    "CancelTimer",
    "Command",
    "Decision",
    "Event",
    "EventMeta",
    "EventSourcedEntity",
    "PublicEvent",
    "Rejection",
    "Reply",
    "Send",
    "Service",
    "Stream",
    "Subscription",
    "Timer",
    "View",
]

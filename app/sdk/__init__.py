"""What a service author imports."""

from app.sdk.action import Action
from app.sdk.entity import Decision, EventSourcedEntity, Reply
from app.sdk.events import Command, Event, Rejection
from app.sdk.key_value import Delete, KeyValueEntity, Update
from app.sdk.service import Service
from app.sdk.streams import PublicEvent, Stream, Subscription
from app.sdk.timers import CancelTimer, Send, Timer
from app.sdk.view import EventMeta, View
from app.sdk.workflow import End, Fail, Goto, Stay, Workflow

__all__ = [
    "Action",
    "CancelTimer",
    "Command",
    "Decision",
    "Delete",
    "End",
    "Event",
    "EventMeta",
    "EventSourcedEntity",
    "Fail",
    "Goto",
    "KeyValueEntity",
    "PublicEvent",
    "Rejection",
    "Reply",
    "Send",
    "Service",
    "Stay",
    "Stream",
    "Subscription",
    "Timer",
    "Update",
    "View",
    "Workflow",
]

"""What a service author imports."""

from app.sdk.entity import Decision, EventSourcedEntity, Reply
from app.sdk.events import Command, Event, Rejection
from app.sdk.service import Service

__all__ = ["Command", "Decision", "Event", "EventSourcedEntity", "Rejection", "Reply", "Service"]

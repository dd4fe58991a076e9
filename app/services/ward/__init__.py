"""The sample service: a hospital ward monitor."""

from app.sdk import Service
from app.services.ward.alert import alert
from app.services.ward.patient import patient

service = Service(
    "ward",
    entities=[patient, alert],
    description="A hospital ward monitor: patients, their vital signs, and early-warning alerts.",
)

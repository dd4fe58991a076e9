"""The sample service: a hospital ward monitor."""

from pathlib import Path

from app.sdk import Service
from app.services.ward.alert import alert
from app.services.ward.monitor import vitals_monitor
from app.services.ward.outreach import callout_status
from app.services.ward.patient import patient
from app.services.ward.streams import alerts
from app.services.ward.views import open_alerts, ward_board

service = Service(
    "ward",
    entities=[patient, alert],
    views=[ward_board, open_alerts, callout_status],
    actions=[vitals_monitor],
    streams=[alerts],  # what the outreach team reads
    description="A hospital ward monitor: patients, their vital signs, and early-warning alerts.",
    migrations=Path(__file__).parent / "migrations",  # its views' tables
)

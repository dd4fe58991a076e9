"""The second sample service: the critical-care outreach team.

It reads the ward's public ``alerts`` stream (a high-risk or escalated alert calls the team, a
resolved one stands it down), pages its on-call responders for each callout (the
``callout-flow`` workflow, over the ``roster``, a key-value entity), and publishes its own
``callouts`` stream, which the ward reads to show each patient's callout on its board.
Neither reads the other's tables or calls its API.
"""

from pathlib import Path

from app.sdk import Service
from app.services.outreach.callout import callout
from app.services.outreach.pager import pager
from app.services.outreach.paging import callout_flow, paging
from app.services.outreach.roster import roster
from app.services.outreach.streams import callouts_stream
from app.services.outreach.views import callouts
from app.services.outreach.ward_alerts import alert_callouts, ward_alerts_view

service = Service(
    "outreach",
    entities=[callout, roster, pager],
    views=[callouts, ward_alerts_view],
    actions=[alert_callouts, paging],
    workflows=[callout_flow],
    streams=[callouts_stream],
    description="The critical-care outreach team: callouts to deteriorating patients.",
    migrations=Path(__file__).parent / "migrations",  # its views' tables
)

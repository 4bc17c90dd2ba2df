"""Routing: dossier and step states, timeline, the Decision 766 projection, outbox and inbox.

Revision ID: routing_0001
"""

from dossierbus_routing.adapters.tables import (
    dossiers,
    indicator_dossiers,
    indicator_ratings,
    steps,
    timeline,
)
from dossierbus_shared.db.messaging import initial_schema

revision = "routing_0001"
down_revision = None
branch_labels = None
depends_on = None

upgrade, downgrade = initial_schema(dossiers, steps, timeline, indicator_dossiers, indicator_ratings)

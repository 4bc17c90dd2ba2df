"""Intake: dossiers, daily dossier-code sequences, satisfaction ratings, outbox and inbox.

Revision ID: intake_0001
"""

from dossierbus_intake.adapters.tables import daily_sequences, dossiers, ratings
from dossierbus_shared.db.messaging import initial_schema

revision = "intake_0001"
down_revision = None
branch_labels = None
depends_on = None

upgrade, downgrade = initial_schema(dossiers, daily_sequences, ratings)

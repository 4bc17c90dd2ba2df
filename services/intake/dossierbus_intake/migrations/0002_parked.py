"""The shared `parked` table: records of a dossier waiting behind its dead letter.

Revision ID: intake_0002
"""

from dossierbus_shared.db.messaging import parked_schema

revision = "intake_0002"
down_revision = "intake_0001"
branch_labels = None
depends_on = None

upgrade, downgrade = parked_schema()

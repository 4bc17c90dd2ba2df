"""The shared `parked` table.

Revision ID: 0002
"""

from dossierbus_shared.db.messaging import parked_schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

upgrade, downgrade = parked_schema()

"""The shared `parked` table: records of a dossier waiting behind its dead letter.

Revision ID: routing_0002
"""

from dossierbus_shared.db.messaging import parked_schema

revision = "routing_0002"
down_revision = "routing_0001"
branch_labels = None
depends_on = None

upgrade, downgrade = parked_schema()

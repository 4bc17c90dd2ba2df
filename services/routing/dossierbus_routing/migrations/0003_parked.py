"""The shared `parked` table: records of a dossier waiting behind its dead letter.

Revision ID: routing_parked
"""

from dossierbus_shared.db.messaging import parked_schema

revision = "routing_parked"
down_revision = "routing_caller_checks"
branch_labels = None
depends_on = None

upgrade, downgrade = parked_schema()

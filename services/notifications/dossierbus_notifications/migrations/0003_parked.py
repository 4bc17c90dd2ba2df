"""The shared `parked` table: records of a dossier waiting behind its dead letter.

Revision ID: notifications_parked
"""

from dossierbus_shared.db.messaging import parked_schema

revision = "notifications_parked"
down_revision = "notifications_caller_checks"
branch_labels = None
depends_on = None

upgrade, downgrade = parked_schema()

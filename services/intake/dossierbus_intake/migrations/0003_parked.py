"""The shared `parked` table: records of a dossier waiting behind its dead letter.

Revision ID: intake_parked
"""

from dossierbus_shared.db.messaging import parked_schema

revision = "intake_parked"
down_revision = "intake_caller_checks"
branch_labels = None
depends_on = None

upgrade, downgrade = parked_schema()

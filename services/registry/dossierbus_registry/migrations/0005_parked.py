"""The shared `parked` table: records of a dossier waiting behind its dead letter.

Revision ID: registry_parked
"""

from dossierbus_shared.db.messaging import parked_schema

revision = "registry_parked"
down_revision = "registry_purpose_binding"
branch_labels = None
depends_on = None

upgrade, downgrade = parked_schema()

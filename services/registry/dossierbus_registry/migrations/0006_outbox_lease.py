"""The outbox's `leased_until`: until when a relay has a row to publish.

Revision ID: registry_outbox_lease
"""

from dossierbus_shared.db.messaging import outbox_lease_schema

revision = "registry_outbox_lease"
down_revision = "registry_parked"
branch_labels = None
depends_on = None

upgrade, downgrade = outbox_lease_schema()

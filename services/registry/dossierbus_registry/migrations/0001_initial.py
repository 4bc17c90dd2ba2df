"""Registry: reference population database, access log, outbox and inbox.

Revision ID: registry_0001
"""

from dossierbus_registry.adapters.tables import access_log, citizens, enterprises
from dossierbus_shared.db.messaging import initial_schema

revision = "registry_0001"
down_revision = None
branch_labels = None
depends_on = None

upgrade, downgrade = initial_schema(citizens, enterprises, access_log)

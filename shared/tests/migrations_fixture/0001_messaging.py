"""Messaging tables only: the schema the shared library's own tests run against.

Revision ID: 0001
"""

from dossierbus_shared.db.messaging import initial_schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

upgrade, downgrade = initial_schema()

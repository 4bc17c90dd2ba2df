"""Routing: the status changes for the national portal, each with its sync state (docs/portal-sync.md).

Revision ID: routing_portal_sync
Revises: routing_deadlines
"""

from alembic import op

from dossierbus_routing.portal_sync.store import portal_sync

revision = "routing_portal_sync"
down_revision = "routing_deadlines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    portal_sync.create(op.get_bind())


def downgrade() -> None:
    portal_sync.drop(op.get_bind())

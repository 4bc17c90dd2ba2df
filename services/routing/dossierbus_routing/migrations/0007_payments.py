"""Routing: what a dossier's applicant owes and where it stands, and the Decision 766 payment columns, for
a database made before them (on a new one, 0001 creates them).

Revision ID: routing_payments
Revises: routing_portal_sync
"""

from alembic import op

revision = "routing_payments"
down_revision = "routing_portal_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS payment jsonb")
    op.execute(
        "ALTER TABLE indicator_dossiers ADD COLUMN IF NOT EXISTS fee_required boolean NOT NULL DEFAULT false,"
        " ADD COLUMN IF NOT EXISTS paid_online boolean NOT NULL DEFAULT false"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE indicator_dossiers DROP COLUMN fee_required, DROP COLUMN paid_online")
    op.execute("ALTER TABLE dossiers DROP COLUMN payment")

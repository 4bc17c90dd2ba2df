"""Routing: columns that say who may read a dossier, for a database made before them (on a new one,
0001 creates them already).

Revision ID: routing_caller_checks
"""

from alembic import op

revision = "routing_caller_checks"
down_revision = "routing_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS rejection_reasons text[]")


def downgrade() -> None:
    op.execute("ALTER TABLE dossiers DROP COLUMN rejection_reasons")

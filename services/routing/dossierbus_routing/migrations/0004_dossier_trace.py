"""Routing: the dossier's trace context, for a database made before it (on a new one, 0001 creates it).

Revision ID: routing_dossier_trace
"""

from alembic import op

revision = "routing_dossier_trace"
down_revision = "routing_parked"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS trace_context jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE dossiers DROP COLUMN trace_context")

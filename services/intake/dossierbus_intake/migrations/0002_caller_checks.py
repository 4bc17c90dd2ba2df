"""Intake: columns that say who may read a dossier, for a database made before them (on a new one,
0001 creates them already).

Revision ID: intake_caller_checks
"""

from alembic import op

revision = "intake_caller_checks"
down_revision = "intake_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS tracking_secret_sha256 text")
    op.execute("ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS status text")


def downgrade() -> None:
    op.execute("ALTER TABLE dossiers DROP COLUMN tracking_secret_sha256")
    op.execute("ALTER TABLE dossiers DROP COLUMN status")

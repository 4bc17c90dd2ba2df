"""Notifications: columns that say who may read a dossier, for a database made before them (on a new one,
0001 creates them already).

Revision ID: notifications_caller_checks
"""

from alembic import op

revision = "notifications_caller_checks"
down_revision = "notifications_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE recipients ADD COLUMN IF NOT EXISTS applicant_personal_id text")


def downgrade() -> None:
    op.execute("ALTER TABLE recipients DROP COLUMN applicant_personal_id")

"""Routing: agencies' extensions of the due date and supplement deadlines, for a database made before
them (on a new one, 0001 creates them).

Revision ID: routing_deadlines
"""

from alembic import op

revision = "routing_deadlines"
down_revision = "routing_dossier_trace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS original_due_date date,"
        " ADD COLUMN IF NOT EXISTS extensions integer NOT NULL DEFAULT 0,"
        " ADD COLUMN IF NOT EXISTS extended_working_days integer NOT NULL DEFAULT 0"
    )
    op.execute("ALTER TABLE steps ADD COLUMN IF NOT EXISTS supplement_due_date date")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_steps_supplement_due ON steps (supplement_due_date)"
        " WHERE supplement_due_date IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_steps_supplement_due")
    op.execute("ALTER TABLE steps DROP COLUMN supplement_due_date")
    op.execute(
        "ALTER TABLE dossiers DROP COLUMN original_due_date, DROP COLUMN extensions,"
        " DROP COLUMN extended_working_days"
    )

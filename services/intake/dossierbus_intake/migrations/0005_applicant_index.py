"""Intake: an index on the applicant's personal ID, for a citizen's own dossiers (the citizen page), on a
database made before it (on a new one, 0001 creates it already).

Revision ID: intake_applicant_index
"""

from alembic import op

revision = "intake_applicant_index"
down_revision = "intake_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS dossiers_applicant_personal_id"
        " ON dossiers ((applicant ->> 'personal_id'), submitted_at DESC)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS dossiers_applicant_personal_id")

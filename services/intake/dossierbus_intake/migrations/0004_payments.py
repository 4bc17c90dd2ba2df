"""Intake: the dossiers' payments (docs/payments.md).

Revision ID: intake_payments
Revises: intake_parked
"""

from alembic import op

from dossierbus_intake.payments.adapters.tables import payments

revision = "intake_payments"
down_revision = "intake_parked"
branch_labels = None
depends_on = None


def upgrade() -> None:
    payments.create(op.get_bind())


def downgrade() -> None:
    payments.drop(op.get_bind())

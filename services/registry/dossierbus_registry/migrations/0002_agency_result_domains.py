"""Registry: the host names each agency publishes result documents on.

Revision ID: registry_result_domains
"""

import sqlalchemy as sa
from alembic import op

revision = "registry_result_domains"
down_revision = "registry_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency_result_domains",
        sa.Column(
            "agency_code",
            sa.Text,
            sa.ForeignKey(
                "agencies.code", ondelete="CASCADE", name="fk_agency_result_domains_agency_code_agencies"
            ),
            nullable=False,
        ),
        sa.Column("domain", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("agency_code", "domain", name="pk_agency_result_domains"),
    )


def downgrade() -> None:
    op.drop_table("agency_result_domains")

"""Registry: step assignments (purpose binding), keyed access-log chain heads, consent evidence kind.

Revision ID: registry_purpose_binding
"""

from alembic import op

from dossierbus_registry.adapters.tables import access_log_heads, assignments

revision = "registry_purpose_binding"
down_revision = "registry_access_log_insert_only"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    assignments.create(bind)
    access_log_heads.create(bind)
    # IF NOT EXISTS: revision 0001 creates its tables as tables.py defines them today, so on a new
    # database these columns are there already; on an older one they are added here.
    op.execute("ALTER TABLE access_log ADD COLUMN IF NOT EXISTS key_id text")
    op.execute("ALTER TABLE consents ADD COLUMN IF NOT EXISTS evidence_kind text NOT NULL DEFAULT 'declared'")


def downgrade() -> None:
    op.execute("ALTER TABLE consents DROP COLUMN evidence_kind")
    op.execute("ALTER TABLE access_log DROP COLUMN key_id")
    bind = op.get_bind()
    access_log_heads.drop(bind)
    assignments.drop(bind)

"""Registry: reference national databases, dossiers, consents, the access log, agencies, outbox, inbox.

Revision ID: registry_0001
"""

from alembic import op

from dossierbus_registry.adapters.tables import (
    access_log,
    agencies,
    citizens,
    consents,
    dossiers,
    enterprises,
)
from dossierbus_shared.db.messaging import initial_schema

revision = "registry_0001"
down_revision = None
branch_labels = None
depends_on = None

_create, _drop = initial_schema(citizens, enterprises, dossiers, consents, access_log, agencies)


def upgrade() -> None:
    _create()
    # Tamper evidence starts with refusing change: the hash chain then shows what a superuser altered.
    op.execute(
        """CREATE FUNCTION access_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'access_log is append-only: % refused', TG_OP; END $$"""
    )
    op.execute(
        "CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log"
        " FOR EACH ROW EXECUTE FUNCTION access_log_is_append_only()"
    )
    op.execute(
        "CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log"
        " FOR EACH STATEMENT EXECUTE FUNCTION access_log_is_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER access_log_no_truncate ON access_log")
    op.execute("DROP TRIGGER access_log_append_only ON access_log")
    _drop()
    op.execute("DROP FUNCTION access_log_is_append_only()")

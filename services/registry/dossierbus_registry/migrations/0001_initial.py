"""Registry: reference national databases, dossiers, consents, the access log, agencies, outbox, inbox.

Revision ID: registry_0001
"""

from alembic import op

from dossierbus_registry.adapters.changes import CHANGES_CHANNEL
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
    # A changed or removed national record invalidates the registry's lookup cache (payload:
    # schema:kind:key, or schema:* after TRUNCATE). Inserts need no notice: absences are not cached.
    op.execute(
        f"""CREATE FUNCTION national_record_changed() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             IF TG_LEVEL = 'STATEMENT' THEN
               PERFORM pg_notify('{CHANGES_CHANNEL}', TG_TABLE_SCHEMA || ':*');
             ELSIF TG_TABLE_NAME = 'citizens' THEN
               PERFORM pg_notify('{CHANGES_CHANNEL}', TG_TABLE_SCHEMA || ':citizen:' || OLD.personal_id);
             ELSE
               PERFORM pg_notify('{CHANGES_CHANNEL}', TG_TABLE_SCHEMA || ':enterprise:' || OLD.tax_code);
             END IF;
             RETURN NULL;
           END $$"""
    )
    for table in ("citizens", "enterprises"):
        op.execute(
            f"CREATE TRIGGER {table}_changed AFTER UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION national_record_changed()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_truncated AFTER TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION national_record_changed()"
        )


def downgrade() -> None:
    for table in ("citizens", "enterprises"):
        op.execute(f"DROP TRIGGER {table}_truncated ON {table}")
        op.execute(f"DROP TRIGGER {table}_changed ON {table}")
    op.execute("DROP FUNCTION national_record_changed()")
    op.execute("DROP TRIGGER access_log_no_truncate ON access_log")
    op.execute("DROP TRIGGER access_log_append_only ON access_log")
    _drop()
    op.execute("DROP FUNCTION access_log_is_append_only()")

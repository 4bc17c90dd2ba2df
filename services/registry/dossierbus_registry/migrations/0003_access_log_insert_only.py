"""Registry: the access log is insert-only for every role but its owner.

The service's role gets SELECT, INSERT, UPDATE and DELETE on the tables of its schema by default
(dossierbus_shared.db.roles); on the access log it keeps SELECT and INSERT only, so even a role that
bypassed the trigger could not change or remove an entry. Only the owner (migrations) keeps the rest.

Revision ID: registry_access_log_insert_only
"""

from alembic import op

revision = "registry_access_log_insert_only"
down_revision = "registry_result_domains"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """DO $$
        DECLARE grantee text;
        BEGIN
          FOR grantee IN
            SELECT DISTINCT CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE acl.grantee::regrole::text END
            FROM pg_class AS t, aclexplode(t.relacl) AS acl
            WHERE t.oid = 'access_log'::regclass
              AND acl.grantee <> t.relowner
              AND acl.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
          LOOP
            EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON access_log FROM %s', grantee);
          END LOOP;
        END $$"""
    )


def downgrade() -> None:
    """Nothing to give back: who may change the access log is not restored by a downgrade."""

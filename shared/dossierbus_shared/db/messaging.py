"""Revisions of the shared messaging tables (outbox, inbox, parked): every service has them in its own
schema."""

from collections.abc import Callable

from alembic import op
from sqlalchemy import Table

from dossierbus_shared.inbox import inbox
from dossierbus_shared.outbox import outbox
from dossierbus_shared.parking import parked


def initial_schema(*service_tables: Table) -> tuple[Callable[[], None], Callable[[], None]]:
    """`upgrade, downgrade = initial_schema(...)` for a service's first revision.

    It creates the tables as defined today; every later change to them, the shared ones included, is an
    explicit operation in a later revision.
    """
    tables = (outbox, inbox, *service_tables)

    def upgrade() -> None:
        for table in tables:
            table.create(op.get_bind())

    def downgrade() -> None:
        for table in reversed(tables):
            table.drop(op.get_bind())

    return upgrade, downgrade


def parked_schema() -> tuple[Callable[[], None], Callable[[], None]]:
    """`upgrade, downgrade = parked_schema()` for the revision that adds the shared `parked` table: the
    records of a dossier waiting behind its dead letter (dossierbus_shared.parking)."""

    def upgrade() -> None:
        parked.create(op.get_bind())

    def downgrade() -> None:
        parked.drop(op.get_bind())

    return upgrade, downgrade

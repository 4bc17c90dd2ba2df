"""The payments table: one row per dossier that owes fees, in intake's schema (intake's metadata)."""

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, Table, Text, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB

from dossierbus_intake.adapters.tables import metadata

payments = Table(
    "payments",
    metadata,
    Column("dossier_id", Uuid, primary_key=True),
    Column("dossier_code", Text, nullable=False, unique=True),
    Column("procedure_code", Text, nullable=False),
    Column("amount_vnd", BigInteger, nullable=False),
    Column("fees", JSONB, nullable=False),  # routing's fee lines, as requested
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("state", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("order_id", Text, unique=True),  # the open order at the platform; callbacks name it
    Column("pay_url", Text),
    Column("opened_at", DateTime(timezone=True)),
    Column("receipt", JSONB),
    Column("refund", JSONB),
    Column("closed_reason", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # What reconciliation and the refund worker look for.
    Index("ix_payments_pending", "opened_at", postgresql_where=text("state = 'pending'")),
    Index("ix_payments_refund_pending", "dossier_id", postgresql_where=text("state = 'refund_pending'")),
)

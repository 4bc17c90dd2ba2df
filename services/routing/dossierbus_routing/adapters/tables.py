from sqlalchemy import BigInteger, Column, Date, DateTime, Index, Table, Text, Uuid, func

from dossierbus_shared.db import metadata

dossiers = Table(
    "dossiers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("procedure_code", Text, nullable=False),
    Column("receiving_unit", Text),
    Column("status", Text, nullable=False),
    Column("agency_code", Text),
    Column("step", Text),
    Column("due_date", Date, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Every event that touched a dossier, applied or refused, in order.
timeline = Table(
    "timeline",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("dossier_id", Uuid, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("event", Text, nullable=False),
    Column("status", Text),
    Column("agency_code", Text),
    Column("step", Text),
    Column("note", Text),
    Column("outcome", Text, nullable=False),
    Column("event_id", Uuid),
    Column("trace_id", Text),
    Index("ix_timeline_dossier", "dossier_id", "id"),
)

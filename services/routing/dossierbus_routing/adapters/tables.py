from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    Table,
    Text,
    Uuid,
    func,
)

from dossierbus_shared.db import metadata

dossiers = Table(
    "dossiers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("procedure_code", Text, nullable=False),
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

# Decision 766 projection: one row per dossier, kept from dossier.verified and dossier.status-changed in the
# transaction that records the event in the inbox, so a redelivered event changes nothing.
indicator_dossiers = Table(
    "indicator_dossiers",
    metadata,
    Column("dossier_id", Uuid, primary_key=True),
    Column("agency_code", Text, nullable=False),
    Column("procedure_code", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("received_on", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("form_digitised", Boolean, nullable=False),
    Column("population_data_used", Boolean, nullable=False),
    Column("status", Text, nullable=False),
    Column("supplement_requests", Integer, nullable=False),
    Column("overdue_from", Date, nullable=False),
    Column("ended_status", Text),
    Column("ended_at", DateTime(timezone=True)),
    Column("on_time", Boolean),
    Column("has_result", Boolean, nullable=False),
    Column("result_digitised", Boolean, nullable=False),
    Index("ix_indicator_dossiers_group", "agency_code", "procedure_code", "received_on"),
)

# One satisfaction rating per dossier (dossier.rated); kept apart so a rating needs no projection row yet.
indicator_ratings = Table(
    "indicator_ratings",
    metadata,
    Column("dossier_id", Uuid, primary_key=True),
    Column("score", SmallInteger, nullable=False),
    Column("rated_at", DateTime(timezone=True), nullable=False),
)

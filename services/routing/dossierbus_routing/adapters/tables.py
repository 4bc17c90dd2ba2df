from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from dossierbus_shared.db import metadata as shared_metadata

# Routing's own collection, with the shared naming convention: other services also have a "dossiers"
# table, and tests that load routing beside them in one process must not clash on the name.
metadata = MetaData(naming_convention=shared_metadata.naming_convention)

dossiers = Table(
    "dossiers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("procedure_code", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("applicant_personal_id", Text, nullable=False),
    # What every step's agency is handed: the applicant, the form and the national facts (once-only).
    Column("handed_over", JSONB, nullable=False),
    Column("appointment_date", Date, nullable=False),  # as on the citizen's receipt
    Column("due_date", Date, nullable=False),  # the appointment date moved by every pause
    Column("paused_since", DateTime(timezone=True)),  # set while the citizen owes a supplement
    Column("paused_working_days", Integer, nullable=False, server_default="0"),
    Column("supplement_requests", Integer, nullable=False, server_default="0"),
    Column("overdue_at", DateTime(timezone=True)),  # when `dossier.overdue` was emitted (once)
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_dossiers_open_by_due_date", "due_date", postgresql_where=text("overdue_at IS NULL")),
)

# One row per agency step of each dossier's procedure.
steps = Table(
    "steps",
    metadata,
    Column("dossier_id", Uuid, nullable=False),
    Column("step", Text, nullable=False),
    Column("agency_code", Text),  # chosen when the step is assigned
    Column("after", ARRAY(Text), nullable=False),
    Column("status", Text, nullable=False),
    Column("result_documents", JSONB, nullable=False, server_default="[]"),
    Column("assigned_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("dossier_id", "step"),
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

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from dossierbus_shared.db import service_metadata

metadata = service_metadata()

dossiers = Table(
    "dossiers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("procedure_code", Text, nullable=False),
    Column("receiving_unit", Text),
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
    # Once an agency extended the due date (form 04): the date without extensions, moved by pauses only,
    # which Decision 766 judges the dossier by; null while never extended.
    Column("original_due_date", Date),
    Column("extensions", Integer, nullable=False, server_default="0"),
    Column("extended_working_days", Integer, nullable=False, server_default="0"),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Why the registry refused the applicant: they reveal national data, so only the authenticated
    # applicant reads them; the timeline and the events carry NEUTRAL_REJECTION instead.
    Column("rejection_reasons", ARRAY(Text)),
    # The W3C trace context (traceparent) of the dossier's trace where routing first saw it, so that a
    # later request about the dossier (a supplement) continues that trace rather than starting another.
    Column("trace_context", JSONB),
    # What the applicant owes and where it stands (domain/payment.py); null: the procedure is free.
    Column("payment", JSONB),
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
    # While the step waits for a supplement with a deadline: the last day (then routing refuses it).
    Column("supplement_due_date", Date),
    PrimaryKeyConstraint("dossier_id", "step"),
    Index(
        "ix_steps_supplement_due",
        "supplement_due_date",
        postgresql_where=text("supplement_due_date IS NOT NULL"),
    ),
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
    # Decision 766 indicator 3.6: the dossier owes fees (dossier.payment-requested), paid them online
    # (dossier.paid).
    Column("fee_required", Boolean, nullable=False, server_default="false"),
    Column("paid_online", Boolean, nullable=False, server_default="false"),
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

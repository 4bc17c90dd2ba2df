from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)

from dossierbus_shared.db import service_metadata

metadata = service_metadata()

# How to reach the applicant of each dossier, learned from dossier.submitted.
recipients = Table(
    "recipients",
    metadata,
    Column("dossier_id", Uuid, primary_key=True),
    Column("dossier_code", Text, nullable=False),
    Column("applicant_personal_id", Text),  # who may read the dossier's delivery log besides staff
    Column("email", Text),
    Column("phone", Text),
    Column("language", Text),
    Column("procedure_code", Text),
    Column("receiving_unit", Text),
)

# One row per event, channel and recipient, whatever happens to it (the unique key de-duplicates).
# Status: pending, delivered, dead (attempts ran out; kept, and re-queueable), undeliverable (no
# address), awaiting_recipient (a status change that overtook the dossier's submission).
notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("dossier_id", Uuid, nullable=False, index=True),
    Column("dossier_code", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column(
        "attempts_at_requeue",
        Integer,
        nullable=False,
        server_default="0",
        comment="attempts when last re-queued: a re-queued delivery gets a fresh set of tries",
    ),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("event_id", "channel", "recipient"),
    Index("ix_notifications_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    Index("ix_notifications_status_channel", "status", "channel"),
)

# The delivery log proper: every attempt of every notification, with its outcome.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("notification_id", BigInteger, ForeignKey("notifications.id"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("error", Text),
)

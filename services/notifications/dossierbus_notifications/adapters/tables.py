from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
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
    Column("email", Text),
    Column("phone", Text),
)

# The delivery log: one row per event, channel and recipient, whatever happens to it.
notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False),
    Column("dossier_id", Uuid, nullable=False, index=True),
    Column("dossier_code", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("event_id", "channel", "recipient"),
    Index("ix_notifications_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
)

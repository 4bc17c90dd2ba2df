from sqlalchemy import Column, Date, DateTime, Index, Integer, SmallInteger, Table, Text, Uuid, literal_column
from sqlalchemy.dialects.postgresql import JSONB

from dossierbus_shared.db import service_metadata

metadata = service_metadata()

dossiers = Table(
    "dossiers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("request_fingerprint", Text, nullable=False),
    Column("procedure_code", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("applicant", JSONB, nullable=False),
    Column("form", JSONB, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("due_date", Date, nullable=False),
    # SHA-256 of the receipt's tracking secret: with the code, it shows the dossier to whoever holds it.
    Column("tracking_secret_sha256", Text),
    # The latest status routing announced, for those who track the dossier with its secret.
    Column("status", Text),
    # When processing ended (dossier.status-changed to a final status): from then on it may be rated.
    Column("finished_at", DateTime(timezone=True)),
)

# A citizen's own dossiers, newest first (the citizen page): by the applicant's personal ID as submitted.
# The key is written into the SQL, not bound, so that the planner matches queries to the index expression.
applicant_personal_id = dossiers.c.applicant.op("->>", return_type=Text)(literal_column("'personal_id'"))
Index("dossiers_applicant_personal_id", applicant_personal_id, dossiers.c.submitted_at.desc())

daily_sequences = Table(
    "daily_sequences",
    metadata,
    Column("receiving_unit", Text, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last", Integer, nullable=False),
)

# One satisfaction rating per dossier (Decision 766 group 5), published as dossier.rated.
ratings = Table(
    "ratings",
    metadata,
    Column("dossier_id", Uuid, primary_key=True),
    Column("score", SmallInteger, nullable=False),
    Column("rated_at", DateTime(timezone=True), nullable=False),
)

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from dossierbus_shared.db import service_metadata

metadata = service_metadata()

# The reference national population database; in production an HTTP adapter replaces it.
citizens = Table(
    "citizens",
    metadata,
    Column("personal_id", Text, primary_key=True),
    Column("full_name", Text, nullable=False),
    Column("date_of_birth", Date, nullable=False),
    Column("sex", Text, nullable=False),
    Column("permanent_address", Text, nullable=False),
    Column("province_code", Text, nullable=False),
    Column("commune_code", Text, nullable=False),
)

# The reference national business registration database.
enterprises = Table(
    "enterprises",
    metadata,
    Column("tax_code", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("legal_form", Text, nullable=False),
    Column("legal_representative_id", Text, nullable=False, index=True),
    Column("head_office_address", Text, nullable=False),
    Column("province_code", Text, nullable=False),
    Column("registered_on", Date, nullable=False),
    Column("status", Text, nullable=False),
)

# Dossiers the registry has seen: a lookup must name a live dossier of its procedure and applicant.
dossiers = Table(
    "dossiers",
    metadata,
    Column("code", Text, primary_key=True),
    Column("procedure_code", Text, nullable=False),
    Column("personal_id", Text, nullable=False),
    Column("tax_code", Text),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("fields_from_national_data", Integer, nullable=False, server_default="0"),
    Column("fields_typed", Integer, nullable=False, server_default="0"),
)

# A data subject's consent to lookups for one procedure (and, optionally, one dossier).
consents = Table(
    "consents",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("personal_id", Text, nullable=False, index=True),
    Column("procedure_code", Text, nullable=False),
    Column("dossier_code", Text),
    Column("granted_via", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("recorded_by", Text, nullable=False),
    # "oidc-token": `evidence` is the citizen's signed eID token, verifiable against the issuer's keys.
    # "declared": written by an agency before consent needed the citizen's own act; never honoured.
    Column("evidence_kind", Text, nullable=False, server_default="declared"),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("withdrawn_at", DateTime(timezone=True)),
)

# Who read whose data, when and why: append-only (a trigger refuses UPDATE and DELETE) and chained per
# data subject with HMAC-SHA256 under ACCESS_LOG_KEY (a key the database does not hold), so a changed or
# removed entry breaks the chain and cannot be recomputed. `key_id` names the key (NULL: an entry written
# before the log was keyed, plain SHA-256).
access_log = Table(
    "access_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("subject", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("agency_code", Text, nullable=False),
    Column("procedure_code", Text, nullable=False),
    Column("dossier_code", Text),
    Column("consent_id", Text),
    Column("fields", ARRAY(Text), nullable=False),
    Column("outcome", Text, nullable=False),
    Column("reason", Text),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Column("key_id", Text),
    UniqueConstraint("subject", "seq"),
)

# The keyed head of each subject's chain (its last entry), written with every append: deleting the last
# entries of a chain leaves a head that no longer matches, and a new head cannot be made without the key.
access_log_heads = Table(
    "access_log_heads",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", Text, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("mac", Text, nullable=False),
)

# Which agency holds which step of which live dossier, as routing assigned it (learnt from the agencies'
# inbox topics): a lookup is allowed only to an agency holding a step of the dossier it names.
assignments = Table(
    "assignments",
    metadata,
    Column("dossier_code", Text, primary_key=True),
    Column("agency_code", Text, primary_key=True),
    Column("step", Text, primary_key=True),
    Column("procedure_code", Text, nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
)

# The agency catalogue: the catalogue file's agencies plus those onboarded through the API.
agencies = Table(
    "agencies",
    metadata,
    Column("code", Text, primary_key=True),
    Column("identifier", Text, nullable=False),
    Column("name", JSONB, nullable=False),
    Column("sector", Text, nullable=False),
    Column("webhook_url", Text),
    Column("public_key", Text),
    Column("api_token_sha256", Text, unique=True),
    Column("webhook_secret", Text),
    Column("handles", JSONB, nullable=False, server_default="[]"),
    Column("status", Text, nullable=False, server_default="active"),
    Column("registered_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The host names an agency publishes result documents on: a report's result URL must be https on one of
# them (dossierbus_shared.result_urls). Registered at onboarding or changed later by an operator.
agency_result_domains = Table(
    "agency_result_domains",
    metadata,
    Column("agency_code", Text, ForeignKey("agencies.code", ondelete="CASCADE"), nullable=False),
    Column("domain", Text, nullable=False),
    PrimaryKeyConstraint("agency_code", "domain"),
)

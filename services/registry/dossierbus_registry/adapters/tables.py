from sqlalchemy import BigInteger, Column, Date, DateTime, Table, Text, func
from sqlalchemy.dialects.postgresql import ARRAY

from dossierbus_shared.db import metadata

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

# Who read whose data, when and why: one row per lookup.
access_log = Table(
    "access_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("personal_id", Text, nullable=False, index=True),
    Column("dossier_code", Text, nullable=False),
    Column("procedure_code", Text, nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("fields", ARRAY(Text), nullable=False),
    Column("found", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

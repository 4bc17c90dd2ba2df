"""The agency catalogue: who may publish and consume on the bus, with their topics, keys and webhooks.

Agencies in the catalogue file are loaded at start-up; others are onboarded through the API or the
`dossierbus-registry agency` command, which creates their topics and issues their credentials: an API
token for the registry, a webhook secret, and, unless the agency brings its own public key, an Ed25519
key pair whose private half is shown once and never stored. Each agency also registers the host names
its result documents are published on: routing refuses a result URL elsewhere.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.tables import agencies, agency_result_domains
from dossierbus_shared.catalogue import Catalogue
from dossierbus_shared.db import Database, retry_dropped_connection
from dossierbus_shared.db.writes import pending_writes
from dossierbus_shared.events import agency_topics
from dossierbus_shared.kafka import PLAINTEXT, KafkaSecurity, ensure_topics, with_dlq
from dossierbus_shared.settings import TOPIC_PARTITIONS


class AgencyExists(Exception):
    pass


class UnknownAgency(Exception):
    pass


class InvalidPublicKey(ValueError):
    pass


@dataclass(frozen=True)
class AgencyRecord:
    code: str
    identifier: str
    name: dict[str, str]
    sector: str
    webhook_url: str | None
    public_key: str | None
    status: str
    handles: list[dict[str, str]] = field(default_factory=list)
    result_domains: list[str] = field(default_factory=list)
    api_token_sha256: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], result_domains: list[str] | None = None) -> AgencyRecord:
        return cls(
            code=row["code"],
            identifier=row["identifier"],
            name=dict(row["name"]),
            sector=row["sector"],
            webhook_url=row["webhook_url"],
            public_key=row["public_key"],
            status=row["status"],
            handles=list(row["handles"]),
            result_domains=sorted(result_domains or []),
            api_token_sha256=row["api_token_sha256"],
        )

    def public_view(self) -> dict[str, Any]:
        """What every participant may know: the directory entry, never a secret."""
        inbox, reports = agency_topics(self.code)
        return {
            "code": self.code,
            "identifier": self.identifier,
            "name": self.name,
            "sector": self.sector,
            "status": self.status,
            "inbox_topic": inbox,
            "reports_topic": reports,
            "webhook_url": self.webhook_url,
            "public_key": self.public_key,
            "handles": self.handles,
            "result_domains": self.result_domains,
            # A digest of a 256-bit random token: lets every service authenticate the agency's calls
            # (dossierbus_shared.auth) and reveals nothing that helps forge the token.
            "api_token_sha256": self.api_token_sha256,
        }


@dataclass(frozen=True)
class Credentials:
    api_token: str
    webhook_secret: str
    private_key_pem: str | None
    """Only when the registry made the key pair: shown once, never stored."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def checked_public_key(pem: str) -> str:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as error:
        raise InvalidPublicKey(f"not a PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidPublicKey(f"an Ed25519 public key is required, not {type(key).__name__}")
    return pem.strip() + "\n"


def new_key_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh Ed25519 key pair."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


class AgencyCatalogue:
    def __init__(
        self,
        db: Database,
        kafka_bootstrap: str,
        kafka_security: KafkaSecurity = PLAINTEXT,
        *,
        topic_partitions: int = TOPIC_PARTITIONS,
    ) -> None:
        self.db = db
        self.kafka_bootstrap = kafka_bootstrap
        self.kafka_security = kafka_security
        self.topic_partitions = topic_partitions

    async def load_catalogue_file(self, catalogue: Catalogue) -> None:
        """Add the catalogue file's agencies that are not there yet; onboarded details are kept."""
        rows = [
            {"code": a.code, "identifier": a.identifier, "name": a.name, "sector": a.sector}
            for a in catalogue.agencies.values()
        ]
        if rows:
            async with self.db.transaction() as session:
                pending_writes(session).insert_new(agencies, rows)

    # The reads below are run once more on a connection a database restart left dead: every service
    # reads the directory every few seconds, and agencies and notifications authenticate through it.

    async def all(self) -> list[AgencyRecord]:
        async def read() -> list[AgencyRecord]:
            async with self.db.transaction() as session:
                rows = await session.execute(select(agencies).order_by(agencies.c.code))
                domains = await _result_domains(session)
            return [AgencyRecord.from_row(row._mapping, domains.get(row.code)) for row in rows]

        return await retry_dropped_connection(read)

    async def get(self, code: str) -> AgencyRecord | None:
        async def read() -> AgencyRecord | None:
            async with self.db.transaction() as session:
                row = (await session.execute(select(agencies).where(agencies.c.code == code))).first()
                domains = await _result_domains(session, code)
            return AgencyRecord.from_row(row._mapping, domains.get(code)) if row else None

        return await retry_dropped_connection(read)

    async def set_result_domains(self, code: str, domains: Collection[str]) -> AgencyRecord:
        """Replace the host names the agency publishes result documents on (checked host names)."""
        async with self.db.transaction() as session:
            known = await session.scalar(select(agencies.c.code).where(agencies.c.code == code))
            if known is None:
                raise UnknownAgency(code)
            await _replace_result_domains(session, code, domains)
        record = await self.get(code)
        assert record is not None
        return record

    async def webhook_secret(self, code: str) -> str | None:
        """The secret the bus signs this agency's webhooks with; None for no agency or none issued."""

        issued = select(agencies.c.webhook_secret).where(agencies.c.code == code)

        async def read() -> str | None:
            async with self.db.transaction() as session:
                secret = await session.scalar(issued)
            return str(secret) if secret else None

        return await retry_dropped_connection(read)

    async def by_token(self, token: str) -> AgencyRecord | None:
        active = select(agencies).where(
            agencies.c.api_token_sha256 == token_digest(token), agencies.c.status == "active"
        )

        async def read() -> AgencyRecord | None:
            async with self.db.transaction() as session:
                row = (await session.execute(active)).first()
            return AgencyRecord.from_row(row._mapping) if row else None

        return await retry_dropped_connection(read)

    async def onboard(
        self,
        *,
        code: str,
        identifier: str,
        name: dict[str, str],
        sector: str,
        webhook_url: str | None,
        public_key: str | None,
        handles: list[dict[str, str]],
        result_domains: Collection[str] = (),
    ) -> tuple[AgencyRecord, Credentials]:
        checked_key = checked_public_key(public_key) if public_key else None
        # Topics first: an agency that exists must be able to use its topics at once.
        await ensure_topics(
            self.kafka_bootstrap,
            with_dlq(agency_topics(code)),
            partitions=self.topic_partitions,
            security=self.kafka_security,
        )
        async with self.db.transaction() as session:
            created = await session.execute(
                insert(agencies)
                .values(
                    code=code,
                    identifier=identifier,
                    name=name,
                    sector=sector,
                    webhook_url=webhook_url,
                    handles=handles,
                )
                .on_conflict_do_nothing()
                .returning(agencies.c.code)
            )
            if created.first() is None:
                raise AgencyExists(code)
            await _replace_result_domains(session, code, result_domains)
        credentials = await self.issue_credentials(code, public_key=checked_key)
        record = await self.get(code)
        assert record is not None
        return record, credentials

    async def issue_credentials(self, code: str, *, public_key: str | None = None) -> Credentials:
        """New API token and webhook secret (the old ones stop working); a new key pair unless given."""
        private_pem = None
        if public_key is None:
            private_pem, public_key = new_key_pair()
        credentials = Credentials(secrets.token_urlsafe(32), secrets.token_urlsafe(32), private_pem)
        async with self.db.transaction() as session:
            result = await session.execute(
                update(agencies)
                .where(agencies.c.code == code)
                .values(
                    api_token_sha256=token_digest(credentials.api_token),
                    webhook_secret=credentials.webhook_secret,
                    public_key=public_key,
                )
                .returning(agencies.c.code)
            )
            if result.first() is None:
                raise UnknownAgency(code)
        return credentials


async def _result_domains(session: AsyncSession, code: str | None = None) -> dict[str, list[str]]:
    query = select(agency_result_domains)
    if code is not None:
        query = query.where(agency_result_domains.c.agency_code == code)
    found: dict[str, list[str]] = {}
    for row in await session.execute(query):
        found.setdefault(row.agency_code, []).append(row.domain)
    return found


async def _replace_result_domains(session: AsyncSession, code: str, domains: Collection[str]) -> None:
    await session.execute(delete(agency_result_domains).where(agency_result_domains.c.agency_code == code))
    if domains:
        rows = [{"agency_code": code, "domain": domain} for domain in sorted(set(domains))]
        await session.execute(insert(agency_result_domains).values(rows))

"""Runs of records through the registry's real consumer, unit of work and PostgreSQL: what each run
writes, and how many statements it costs. A run costs the same few statements whatever its length: the
national records, the dossiers, the access-log chains and the assignments of all its records are read
and written together."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from sqlalchemy import event, text

from dossierbus_devstack.records import consumer_record
from dossierbus_registry.adapters import access_log
from dossierbus_registry.adapters.cache import CachedNationalDatabases
from dossierbus_registry.adapters.population import ReferenceNationalDatabases
from dossierbus_registry.bootstrap import MIGRATIONS
from dossierbus_registry.domain.access_log import ChainKey
from dossierbus_registry.entrypoints.events import ROUTING_SOURCE, EventHandlers
from dossierbus_registry.seeding import seed
from dossierbus_registry.synthetic import citizens
from dossierbus_registry.unit_of_work import RegistryUnitOfWork
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.consumer import EventConsumer
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    DossierAssigned,
    DossierStatusChanged,
    DossierStepCancelled,
    DossierSubmitted,
    Event,
)

KEY = ChainKey(b"batch-statements-test-key-0123456789")
PEOPLE = list(citizens(1000))
NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)


class NoDeadLetters:
    consumer_group = "registry"

    async def publish(self, record: Any, **why: Any) -> None:
        raise AssertionError(f"dead-lettered {record.topic}@{record.offset}: {why}")


class ObservedReference(ReferenceNationalDatabases):
    """The reference databases, counting their queries (on the driver connection, out of the engine's
    sight)."""

    queries = 0

    async def _fetch(self, query: str, keys: Sequence[str]) -> list[dict[str, Any]]:
        self.queries += 1
        return await super()._fetch(query, keys)


@dataclass
class Registry:
    db: Database
    consumer: EventConsumer[RegistryUnitOfWork]
    national: ObservedReference
    statements: Counter[str]
    offset: int = 0

    async def consume(self, *events: Event, source: str = "urn:dossierbus:intake") -> Counter[str]:
        """Apply the events as one fetch; the statements it cost, by kind (`national`: national queries)."""
        records = [self._record(Envelope(event, source=source)) for event in events]
        self.statements.clear()
        queries = self.national.queries
        await self.consumer.process_batch(records)
        return self.statements + Counter({"national": self.national.queries - queries})

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.db.transaction() as session:
            return list(await session.execute(text(sql), params))

    def _record(self, envelope: Envelope[Any]) -> ConsumerRecord[bytes, bytes]:
        kafka = envelope.to_kafka()
        self.offset += 1
        return consumer_record(
            kafka.topic, kafka.value, key=kafka.key, offset=self.offset, headers=kafka.headers
        )


@pytest.fixture(scope="module")
async def registry(database_url: str) -> AsyncIterator[Registry]:
    schema = f"registry_batch_{uuid.uuid4().hex[:8]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    db = Database(database_url, schema, pool_size=2)
    await seed(db, len(PEOPLE), 20)
    catalogue = default_catalogue()
    national = ObservedReference(db)
    cache = CachedNationalDatabases(national)
    consumer: EventConsumer[RegistryUnitOfWork] = EventConsumer(
        db,
        NoDeadLetters(),  # type: ignore[arg-type]
        unit_of_work=lambda session: RegistryUnitOfWork.in_database(
            session, catalogue=catalogue, national=cache, key=KEY
        ),
    )
    EventHandlers(catalogue).register(consumer)
    statements: Counter[str] = Counter()

    def executed(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements[statement.lstrip().split(None, 1)[0].lower()] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", executed)
    for kind in ("begin", "commit", "rollback"):
        event.listen(db.engine.sync_engine, kind, lambda *_, kind=kind: statements.update([kind]))
    try:
        yield Registry(db, consumer, national, statements)
    finally:
        async with db.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await db.dispose()


def submitted(person: int, procedure_code: str = "1.001193", **form: str) -> DossierSubmitted:
    citizen = PEOPLE[person]
    return DossierSubmitted(
        dossier_id=uuid.uuid4(),
        dossier_code=f"B-{uuid.uuid4().hex[:12]}",
        procedure_code=procedure_code,
        receiving_unit="000.00.01.H26",
        channel="online",
        applicant=Applicant(
            personal_id=citizen.personal_id, full_name=citizen.full_name, date_of_birth=citizen.date_of_birth
        ),
        form=form
        or {
            "child_full_name": "Nguyễn Minh Khang",
            "child_date_of_birth": "2026-11-20",
            "child_sex": "male",
            "place_of_birth": "Bệnh viện Phụ sản Hà Nội",
            "relationship": "mother",
        },
        submitted_at=NOW,
        due_date=date(2026, 12, 30),
    )


def assigned(dossier: DossierSubmitted, agency: str, step: str) -> DossierAssigned:
    return DossierAssigned(
        dossier_id=dossier.dossier_id,
        dossier_code=dossier.dossier_code,
        agency_code=agency,
        procedure_code=dossier.procedure_code,
        step=step,
        applicant=dossier.applicant,
        form=dossier.form,
        due_date=dossier.due_date,
        assigned_at=NOW,
    )


def cancelled(dossier: DossierSubmitted, agency: str, step: str) -> DossierStepCancelled:
    return DossierStepCancelled(
        dossier_id=dossier.dossier_id,
        dossier_code=dossier.dossier_code,
        agency_code=agency,
        procedure_code=dossier.procedure_code,
        step=step,
        reason="withdrawn",
        cancelled_at=NOW,
    )


def returned(dossier: DossierSubmitted) -> DossierStatusChanged:
    return DossierStatusChanged(
        dossier_id=dossier.dossier_id,
        dossier_code=dossier.dossier_code,
        procedure_code=dossier.procedure_code,
        previous_status="processing",
        status="returned",
        due_date=dossier.due_date,
        changed_at=NOW,
    )


def per_record(cost: Counter[str], records: int) -> str:
    return (
        f"{cost.total()} statements for {records} records ({cost.total() / records:.2f} each): {dict(cost)}"
    )


async def test_a_run_of_submissions_costs_the_same_statements_whatever_its_length(registry: Registry) -> None:
    short = await registry.consume(*(submitted(person) for person in range(0, 10)))
    long = await registry.consume(*(submitted(person) for person in range(10, 60)))
    print(f"\nverifying 10 dossiers: {per_record(short, 10)}\nverifying 50 dossiers: {per_record(long, 50)}")
    assert long == short
    assert short["national"] == 1  # every applicant's record in one query


async def test_a_run_verifies_each_dossier_and_chains_the_entries_of_one_applicant(
    registry: Registry,
) -> None:
    representative, tax_code = (
        await registry.rows(
            "SELECT c.personal_id, e.tax_code FROM enterprises e JOIN citizens c"
            " ON c.personal_id = e.legal_representative_id WHERE e.status = 'active' LIMIT 1"
        )
    )[0]
    person = next(index for index, citizen in enumerate(PEOPLE) if citizen.personal_id == representative)
    business = submitted(person, "2.001199", tax_code=tax_code, change="name", new_value="Sen Vàng")
    run = [submitted(person), business, submitted(person, "1.001193"), submitted(200)]
    cost = await registry.consume(*run)
    assert cost["national"] == 2  # the applicants at once, the enterprise at once

    outcomes = await registry.rows(
        "SELECT event ->> 'dossier_code', event ->> 'outcome', event -> 'national_facts'"
        " FROM (SELECT payload::jsonb AS event FROM outbox) AS staged"
        " WHERE event ->> 'dossier_code' = ANY(:codes)",
        codes=[dossier.dossier_code for dossier in run],
    )
    verified = {code: (outcome, facts) for code, outcome, facts in outcomes}
    assert {code: outcome for code, (outcome, _) in verified.items()} == {
        dossier.dossier_code: "verified" for dossier in run
    }
    assert verified[business.dossier_code][1]["enterprise.name"]
    entries = await registry.rows(
        "SELECT seq, dossier_code FROM access_log WHERE subject = :subject ORDER BY seq",
        subject=representative,
    )
    assert [code for _, code in entries][-3:] == [dossier.dossier_code for dossier in run[:3]]
    async with registry.db.transaction() as session:
        checks = [check async for _, check in access_log.every_chain(session, KEY)]
    assert checks and all(check.intact for check in checks)


async def test_a_rejected_applicant_is_refused_and_its_dossier_closed(registry: Registry) -> None:
    impostor = submitted(300).model_copy(
        update={"applicant": submitted(300).applicant.model_copy(update={"full_name": "Trần Thị Khác"})}
    )
    await registry.consume(impostor, submitted(301))
    closed = await registry.rows(
        "SELECT code FROM dossiers WHERE code = ANY(:codes) AND closed_at IS NOT NULL",
        codes=[impostor.dossier_code],
    )
    assert closed == [(impostor.dossier_code,)]


async def test_assignments_and_closings_of_a_run_are_written_with_one_statement_each(
    registry: Registry,
) -> None:
    dossiers = [submitted(person) for person in range(400, 420)]
    await registry.consume(*dossiers)
    steps: list[Event] = [assigned(dossier, "justice-hanoi", "birth-registration") for dossier in dossiers]
    steps += [assigned(dossier, "police-hanoi", "residence-registration") for dossier in dossiers]
    # Within one run: a cancelled step is gone, one assigned again after its cancellation is held.
    steps += [cancelled(dossier, "police-hanoi", "residence-registration") for dossier in dossiers[:10]]
    steps += [assigned(dossiers[0], "police-hanoi", "residence-registration")]
    assigning = await registry.consume(*steps, source=ROUTING_SOURCE)
    print(f"\nassigning: {per_record(assigning, len(steps))}")
    # The cancelled steps, then the inbox rows and the assignments in one statement at the commit.
    assert (assigning["delete"], assigning["insert"], assigning["with"]) == (1, 0, 1)
    held = await registry.rows(
        "SELECT dossier_code, agency_code FROM assignments WHERE dossier_code = ANY(:codes)",
        codes=[dossier.dossier_code for dossier in dossiers],
    )
    assert len(held) == 20 + 10 + 1

    closing = await registry.consume(*(returned(dossier) for dossier in dossiers), source=ROUTING_SOURCE)
    print(f"closing: {per_record(closing, len(dossiers))}")
    assert (closing["select"], closing["update"], closing["delete"]) == (2, 1, 1)  # and the parked check
    codes = [dossier.dossier_code for dossier in dossiers]
    assert (
        await registry.rows("SELECT 1 FROM assignments WHERE dossier_code = ANY(:codes)", codes=codes) == []
    )
    still_live = await registry.rows(
        "SELECT code FROM dossiers WHERE code = ANY(:codes) AND closed_at IS NULL", codes=codes
    )
    assert still_live == []

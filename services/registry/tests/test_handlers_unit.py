"""The event handlers and the lookup use case on an in-memory unit of work: what a run of events or a
lookup decides, reads and writes, in milliseconds. The same repositories' SQL is tested on PostgreSQL
(test_batch_statements_integration.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_registry.adapters.access_log import AccessLogRepository, ChainEnds
from dossierbus_registry.adapters.assignments import AssignmentRepository
from dossierbus_registry.adapters.consents import ConsentRepository
from dossierbus_registry.adapters.dossiers import DossierRepository
from dossierbus_registry.adapters.national import NationalRecords
from dossierbus_registry.domain.access_log import Chain, ChainKey, Entry
from dossierbus_registry.domain.assignments import Assignment, AssignmentChanges, Step
from dossierbus_registry.domain.consents import CitizenAct, ConsentRecord
from dossierbus_registry.domain.dossiers import Dossier
from dossierbus_registry.domain.national import Citizen, Enterprise
from dossierbus_registry.domain.purpose import Database, Refused
from dossierbus_registry.entrypoints.events import ROUTING_SOURCE, EventHandlers, from_routing
from dossierbus_registry.lookups import LookupRequest, Lookups
from dossierbus_registry.synthetic import citizens
from dossierbus_registry.unit_of_work import RegistryUnitOfWork
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.consumer import Unauthenticated
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import (
    Applicant,
    DossierAssigned,
    DossierStatusChanged,
    DossierStepCancelled,
    DossierSubmitted,
    DossierVerified,
    Event,
)

CATALOGUE = default_catalogue()
KEY = ChainKey(b"k" * 32)
NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)
ANNA, BINH, CUONG = list(citizens(3))
FIRM = Enterprise(
    "0100109106", "Công ty TNHH Sen Vàng", "Công ty TNHH", ANNA.personal_id, "Số 5, Ba Đình", "01",
    date(2019, 3, 1), "active",
)  # fmt: skip


class FakeNationalDatabases:
    def __init__(self, *records: Citizen | Enterprise) -> None:
        self.people = {record.personal_id: record for record in records if isinstance(record, Citizen)}
        self.firms = {record.tax_code: record for record in records if isinstance(record, Enterprise)}
        self.asked: list[list[str]] = []

    async def citizens(self, personal_ids: Sequence[str]) -> dict[str, Citizen]:
        self.asked.append(list(personal_ids))
        return {key: self.people[key] for key in personal_ids if key in self.people}

    async def enterprises(self, tax_codes: Sequence[str]) -> dict[str, Enterprise]:
        self.asked.append(list(tax_codes))
        return {key: self.firms[key] for key in tax_codes if key in self.firms}

    async def citizen(self, personal_id: str) -> Citizen | None:
        return (await self.citizens([personal_id])).get(personal_id)

    async def enterprise(self, tax_code: str) -> Enterprise | None:
        return (await self.enterprises([tax_code])).get(tax_code)


Handler = Callable[[RegistryUnitOfWork, Envelope[Any]], Awaitable[None]]


@dataclass
class Store:
    """What the fake database holds, shared by the units of work of one test."""

    national: FakeNationalDatabases
    dossiers: dict[str, Dossier] = field(default_factory=dict)
    held: dict[Step, Assignment] = field(default_factory=dict)
    consents: list[ConsentRecord] = field(default_factory=list)
    chains: dict[str, list[Entry]] = field(default_factory=dict)
    published: list[Envelope[Any]] = field(default_factory=list)
    dossier_reads: int = 0

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[RegistryUnitOfWork]:
        """Flushed and committed when the block ends without an error, as Database.unit_of_work does."""
        work = FakeUnitOfWork(self)
        yield work
        await work.flush()
        work.commit()

    async def consume(self, *events: Event, source: str = "urn:dossierbus:intake") -> None:
        """A run of events in one unit of work, as the consumer applies it."""
        handlers = EventHandlers(CATALOGUE, clock=lambda: NOW)
        handle: dict[type[Event], Handler] = {
            DossierSubmitted: handlers.on_submitted,
            DossierStatusChanged: handlers.on_status_changed,
            DossierAssigned: handlers.on_assigned,
            DossierStepCancelled: handlers.on_step_cancelled,
        }
        envelopes = [Envelope(event, source=source) for event in events]
        async with self.unit_of_work() as work:
            await work.load(envelopes)
            for envelope in envelopes:
                await handle[type(envelope.data)](work, envelope)

    def entries(self, subject: str) -> list[Entry]:
        return self.chains.get(subject, [])


class FakeDossiers(DossierRepository):
    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    async def _read(self, codes: Sequence[str]) -> dict[str, Dossier]:
        self.store.dossier_reads += 1
        return {code: replace(self.store.dossiers[code]) for code in codes if code in self.store.dossiers}

    async def _insert(self, new: Sequence[Dossier]) -> None:
        for dossier in new:
            self.store.dossiers.setdefault(dossier.code, replace(dossier))

    async def _close(self, closed: Sequence[Dossier]) -> None:
        for dossier in closed:
            if self.store.dossiers[dossier.code].closed_at is None:
                self.store.dossiers[dossier.code].closed_at = dossier.closed_at


class FakeAssignments(AssignmentRepository):
    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    async def holds_step(self, dossier_code: str, agency_code: str) -> bool:
        return any(s.dossier_code == dossier_code and s.agency_code == agency_code for s in self.store.held)

    async def _write(self, changes: AssignmentChanges) -> None:
        held = self.store.held
        for step in [
            step for step in held if step.dossier_code in changes.forgotten or step in changes.cancelled
        ]:
            del held[step]
        for step, assignment in changes.assigned.items():
            held.setdefault(step, assignment)


class FakeConsents(ConsentRepository):
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, consent: ConsentRecord) -> None:
        self.store.consents.append(consent)

    async def get(self, consent_id: str) -> ConsentRecord | None:
        return next((c for c in self.store.consents if str(c.id) == consent_id), None)

    async def live(
        self, personal_id: str, procedure_code: str, dossier_code: str | None, now: datetime
    ) -> ConsentRecord | None:
        live = [
            c
            for c in self.store.consents
            if (c.personal_id, c.procedure_code) == (personal_id, procedure_code)
            and c.dossier_code in (None, dossier_code)
            and c.withdrawn_at is None
            and (c.expires_at is None or c.expires_at > now)
        ]
        return max(live, key=lambda c: c.granted_at, default=None)

    async def withdraw(self, consent_id: uuid.UUID, personal_id: str, at: datetime) -> ConsentRecord | None:
        raise NotImplementedError  # not a lookup's business

    async def of(self, personal_id: str) -> list[ConsentRecord]:
        raise NotImplementedError


class FakeAccessLog(AccessLogRepository):
    def __init__(self, store: Store) -> None:
        super().__init__(KEY, clock=lambda: NOW)
        self.store = store

    async def _lock_and_read(self, subjects: Sequence[str]) -> ChainEnds:
        return {s: (chain[-1].seq, chain[-1].hash) for s in subjects if (chain := self.store.chains.get(s))}

    async def _write(self, chains: Sequence[Chain]) -> None:
        for chain in chains:
            self.store.chains.setdefault(chain.subject, []).extend(chain.appended)


class FakeUnitOfWork(RegistryUnitOfWork):
    def __init__(self, store: Store) -> None:
        super().__init__(
            cast(AsyncSession, None),  # nothing here reaches a database
            catalogue=CATALOGUE,
            national=NationalRecords(store.national),
            dossiers=FakeDossiers(store),
            assignments=FakeAssignments(store),
            consents=FakeConsents(store),
            access_log=FakeAccessLog(store),
        )
        self.store = store
        self.staged: list[Envelope[Any]] = []
        self.hooks: list[Any] = []

    def stage(self, *envelopes: Envelope[Any]) -> None:
        self.staged.extend(envelopes)

    def after_commit(self, hook: Any) -> None:
        self.hooks.append(hook)

    def commit(self) -> None:
        self.store.published += self.staged
        for hook in self.hooks:
            hook()


@pytest.fixture
def store() -> Store:
    return Store(FakeNationalDatabases(ANNA, BINH, FIRM))


def submitted(person: Citizen, procedure_code: str = "1.001193", **form: Any) -> DossierSubmitted:
    return DossierSubmitted(
        dossier_id=uuid.uuid4(),
        dossier_code=f"D-{uuid.uuid4().hex[:8]}",
        procedure_code=procedure_code,
        receiving_unit="000.00.01.H26",
        channel="online",
        applicant=Applicant(
            personal_id=person.personal_id, full_name=person.full_name, date_of_birth=person.date_of_birth
        ),
        form=form or {"child_full_name": "Nguyễn Minh Khang"},
        submitted_at=NOW,
        due_date=date(2026, 12, 30),
    )


def verified(store: Store) -> dict[str, DossierVerified]:
    return {envelope.data.dossier_code: envelope.data for envelope in store.published}


def once_only(source: str) -> float:
    labels = {"procedure_code": "1.001193", "source": source}
    return REGISTRY.get_sample_value("dossierbus_once_only_fields_total", labels) or 0.0


async def test_a_run_of_submissions_reads_each_national_database_once(store: Store) -> None:
    business = submitted(ANNA, "2.001199", tax_code=FIRM.tax_code, change="name", new_value="Sen Vàng Mới")
    run = [submitted(ANNA), submitted(BINH), business, submitted(CUONG)]
    typed = once_only("typed")
    await store.consume(*run)
    assert store.national.asked == [
        [ANNA.personal_id, BINH.personal_id, CUONG.personal_id],
        [FIRM.tax_code],
    ]
    outcomes = {code: event.outcome for code, event in verified(store).items()}
    assert outcomes == {
        run[0].dossier_code: "verified",
        run[1].dossier_code: "verified",
        business.dossier_code: "verified",
        run[3].dossier_code: "rejected",  # not in the national population database
    }
    assert verified(store)[business.dossier_code].national_facts["enterprise.name"] == FIRM.name
    assert all(envelope.source == "urn:dossierbus:registry" for envelope in store.published)
    assert set(store.dossiers) == {dossier.dossier_code for dossier in run}
    assert store.dossiers[run[3].dossier_code].closed_at == NOW
    assert once_only("typed") > typed  # counted once committed


async def test_the_entries_of_one_applicant_in_a_run_are_chained_in_order(store: Store) -> None:
    await store.consume(submitted(ANNA))
    run = [submitted(ANNA), submitted(BINH), submitted(ANNA)]
    await store.consume(*run)
    chain = store.entries(ANNA.personal_id)
    assert [entry.seq for entry in chain] == [1, 2, 3]
    assert [entry.prev_hash for entry in chain[1:]] == [entry.hash for entry in chain[:-1]]
    assert [entry.access.dossier_code for entry in chain[1:]] == [run[0].dossier_code, run[2].dossier_code]


async def test_nothing_is_published_or_counted_when_a_handler_fails(store: Store) -> None:
    national = once_only("national")
    with pytest.raises(KeyError):
        async with store.unit_of_work() as work:
            await EventHandlers(CATALOGUE).on_submitted(work, Envelope(submitted(ANNA), source="urn:test"))
            raise KeyError("the next record failed")
    assert store.published == [] and store.dossiers == {} and store.chains == {}
    assert once_only("national") == national


async def test_a_final_status_closes_the_dossier_and_forgets_its_assignments(store: Store) -> None:
    first, second = submitted(ANNA), submitted(BINH)
    await store.consume(first, second)
    await store.consume(
        DossierAssigned(
            dossier_id=first.dossier_id,
            dossier_code=first.dossier_code,
            agency_code="justice-hanoi",
            procedure_code="1.001193",
            step="birth-registration",
            applicant=first.applicant,
            form=first.form,
            due_date=first.due_date,
            assigned_at=NOW,
        ),
        source=ROUTING_SOURCE,
    )
    reads = store.dossier_reads

    def changed(dossier: DossierSubmitted, status: str, at: datetime) -> DossierStatusChanged:
        return DossierStatusChanged(
            dossier_id=dossier.dossier_id,
            dossier_code=dossier.dossier_code,
            procedure_code="1.001193",
            previous_status="processing",
            status=status,
            due_date=dossier.due_date,
            changed_at=at,
        )

    later = NOW + timedelta(days=3)
    await store.consume(
        changed(first, "returned", later),
        changed(second, "processing", later),
        changed(first, "withdrawn", later + timedelta(days=1)),
    )
    assert store.dossier_reads == reads + 1
    assert store.dossiers[first.dossier_code].closed_at == later
    assert store.dossiers[second.dossier_code].live
    assert store.held == {}


async def test_assignments_follow_the_inbox_in_order(store: Store) -> None:
    dossier = submitted(ANNA)

    def step(agency: str, kind: type[DossierAssigned] | type[DossierStepCancelled]) -> Event:
        common = {
            "dossier_id": dossier.dossier_id,
            "dossier_code": dossier.dossier_code,
            "agency_code": agency,
            "procedure_code": "1.001193",
            "step": "birth-registration",
        }
        if kind is DossierAssigned:
            return DossierAssigned(
                **common, applicant=dossier.applicant, form={}, due_date=dossier.due_date, assigned_at=NOW
            )
        return DossierStepCancelled(**common, reason="withdrawn", cancelled_at=NOW)

    await store.consume(
        step("justice-hanoi", DossierAssigned),
        step("police-hanoi", DossierAssigned),
        step("police-hanoi", DossierStepCancelled),
        step("health-hanoi", DossierStepCancelled),
        source=ROUTING_SOURCE,
    )
    assert {s.agency_code for s in store.held} == {"justice-hanoi"}
    await store.consume(step("justice-hanoi", DossierStepCancelled), source=ROUTING_SOURCE)
    assert store.held == {}


async def test_only_routing_assigns_steps() -> None:
    event = submitted(ANNA)
    assigned = DossierAssigned(
        dossier_id=event.dossier_id,
        dossier_code=event.dossier_code,
        agency_code="justice-hanoi",
        procedure_code="1.001193",
        step="birth-registration",
        applicant=event.applicant,
        form={},
        due_date=event.due_date,
        assigned_at=NOW,
    )
    await from_routing(Envelope(assigned, source=ROUTING_SOURCE))
    with pytest.raises(Unauthenticated, match="not 'urn:agency:justice-hanoi'"):
        await from_routing(Envelope(assigned, source="urn:agency:justice-hanoi"))


# The lookup use case on the same unit of work.


def lookups(store: Store) -> Lookups:
    return Lookups(store.unit_of_work, CATALOGUE, KEY, clock=lambda: NOW)


def request(
    subject: str, dossier_code: str | None, procedure_code: str = "1.001193", **options: Any
) -> LookupRequest:
    database: Database = "business" if len(subject) != 12 else "population"
    return LookupRequest(
        procedure_code, dossier_code, options.pop("consent_id", None), database, subject, **options
    )


async def live_dossier(
    store: Store, agency: str, applicant: Citizen, procedure_code: str = "1.001193"
) -> str:
    form = (
        {"tax_code": FIRM.tax_code, "change": "name", "new_value": "X"}
        if procedure_code == "2.001199"
        else {}
    )
    dossier = submitted(applicant, procedure_code, **form)
    await store.consume(dossier)
    step = Step(dossier.dossier_code, agency, "step")
    store.held[step] = Assignment(step, procedure_code, NOW)
    return dossier.dossier_code


async def test_an_agency_holding_a_step_reads_what_the_procedure_needs_and_it_is_logged(store: Store) -> None:
    code = await live_dossier(store, "justice-hanoi", ANNA)
    result = await lookups(store).lookup(
        "justice-hanoi", request(ANNA.personal_id, code, fields=["full_name"])
    )
    assert (result.found, result.facts, result.consent_id) == (True, {"full_name": ANNA.full_name}, None)
    entry = store.entries(ANNA.personal_id)[-1]
    assert (entry.access.agency_code, entry.access.fields, entry.access.outcome) == (
        "justice-hanoi",
        ["full_name"],
        "granted",
    )


async def test_a_refusal_without_standing_goes_to_the_readers_own_chain(store: Store) -> None:
    code = await live_dossier(store, "justice-hanoi", ANNA)
    before = len(store.entries(ANNA.personal_id))
    with pytest.raises(Refused) as refused:
        await lookups(store).lookup("police-hanoi", request(ANNA.personal_id, code))
    assert refused.value.reason == "agency_not_involved"
    assert len(store.entries(ANNA.personal_id)) == before
    (entry,) = store.entries("reader:police-hanoi")
    assert entry.access.outcome == "refused"
    assert entry.access.reason == (
        f"agency_not_involved: agency police-hanoi holds no assigned step of dossier {code}"
        f" about {ANNA.personal_id}"
    )


async def test_a_refusal_with_standing_goes_to_the_subjects_chain(store: Store) -> None:
    code = await live_dossier(store, "justice-hanoi", ANNA)
    with pytest.raises(Refused) as refused:
        await lookups(store).lookup("justice-hanoi", request(ANNA.personal_id, code, fields=["sex"]))
    assert refused.value.reason == "fields_beyond_purpose"
    assert store.entries(ANNA.personal_id)[-1].access.reason.startswith("fields_beyond_purpose: ")  # type: ignore[union-attr]


def consent(person: Citizen, procedure_code: str) -> ConsentRecord:
    act = CitizenAct(person.personal_id, "token", "https://vneid.example", "sub", 1, 2, "jti")
    return ConsentRecord.given(
        act,
        KEY,
        procedure_code=procedure_code,
        dossier_code=None,
        granted_via="portal",
        recorded_by="citizen via portal",
        expires_at=None,
        now=NOW - timedelta(hours=1),
    )


async def test_a_business_read_needs_the_representatives_consent_and_is_in_her_chain_too(
    store: Store,
) -> None:
    code = await live_dossier(store, "planning-investment-hanoi", ANNA, "2.001199")
    business = request(FIRM.tax_code, code, "2.001199")
    with pytest.raises(Refused) as refused:
        await lookups(store).lookup("planning-investment-hanoi", business)
    assert refused.value.reason == "consent_missing"

    given = consent(ANNA, "2.001199")
    store.consents.append(given)
    result = await lookups(store).lookup("planning-investment-hanoi", business)
    assert result.facts["legal_representative_id"] == ANNA.personal_id
    assert result.consent_id == str(given.id)
    firm, anna = store.entries(FIRM.tax_code)[-1], store.entries(ANNA.personal_id)[-1]
    assert (firm.access.outcome, firm.access.consent_id) == ("granted", str(given.id))
    assert anna.access.fields == ["legal_representative_id"]
    assert anna.access.reason == f"as legal representative of {FIRM.tax_code}"


async def test_prefill_needs_a_consent_sealed_by_the_registry(store: Store) -> None:
    with pytest.raises(Refused) as missing:
        await lookups(store).prefill(request(ANNA.personal_id, None, "2.001199"))
    assert missing.value.reason == "consent_missing"
    declared = replace(consent(ANNA, "2.001199"), evidence_kind="declared")
    store.consents.append(declared)
    with pytest.raises(Refused) as invalid:
        await lookups(store).prefill(request(ANNA.personal_id, None, "2.001199", consent_id=str(declared.id)))
    assert invalid.value.reason == "consent_invalid"
    assert [entry.access.outcome for entry in store.entries("reader:portal")] == ["refused", "refused"]

"""Submitting, rating and following status changes, on an in-memory repository: what is kept, what is
announced, what is refused."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

from dossierbus_intake.adapters.repository import KeyAlreadyUsed
from dossierbus_intake.domain.dossier import AlreadyRated, Dossier, IdempotencyConflict, NotFinished
from dossierbus_intake.domain.submission import (
    Submission,
    SubmissionRefused,
    SubmissionRequest,
    dossier_code,
)
from dossierbus_intake.entrypoints.events import on_status_changed
from dossierbus_intake.ratings import Ratings, UnknownDossier
from dossierbus_intake.submissions import Submissions
from dossierbus_intake.tracking import TrackingSecrets, tracking_digest
from dossierbus_intake.unit_of_work import IntakeUnitOfWork
from dossierbus_shared.auth import Caller, Role
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierRated, DossierStatus, DossierStatusChanged, DossierSubmitted

UNITS = ["000.00.01.H26", "000.00.01.H48"]
APPLICANT = "001085123456"


@dataclass
class Store:
    """What committed transactions leave behind."""

    dossiers: dict[uuid.UUID, Dossier] = field(default_factory=dict)
    keys: dict[str, uuid.UUID] = field(default_factory=dict)
    """Idempotency keys, and the dossier each was used for."""
    sequences: dict[tuple[str, date], int] = field(default_factory=dict)
    published: list[Envelope[Any]] = field(default_factory=list)


class FakeDossierRepository:
    """Hands out copies: what a unit of work changes reaches the store only when it saves."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.seen: dict[uuid.UUID, Dossier] = {}
        self.keys: dict[str, uuid.UUID] = {}
        self.sequences: dict[tuple[str, date], int] = {}

    async def add(self, submission: Submission) -> str:
        if submission.idempotency_key in self.store.keys | self.keys:
            raise KeyAlreadyUsed(submission.idempotency_key)
        day = (submission.receiving_unit, submission.day)
        number = self.sequences[day] = self.sequences.get(day, self.store.sequences.get(day, 0)) + 1
        code = dossier_code(submission.receiving_unit, submission.day, number)
        self.keys[submission.idempotency_key] = submission.dossier_id
        self.seen[submission.dossier_id] = Dossier(
            id=submission.dossier_id,
            code=code,
            procedure_code=submission.procedure_code,
            channel=submission.channel.value,
            applicant_personal_id=submission.applicant.personal_id,
            submitted_at=submission.submitted_at,
            due_date=submission.deadline.due_date,
            request_fingerprint=submission.fingerprint,
            tracking_secret_sha256=tracking_digest(submission.tracking_secret),
            status="received",
        )
        return code

    async def load(self, ids: Collection[uuid.UUID]) -> None:
        for dossier_id in ids:
            if dossier_id in self.store.dossiers:
                self._hand_out(self.store.dossiers[dossier_id])

    def get(self, dossier_id: uuid.UUID) -> Dossier | None:
        return self.seen.get(dossier_id)

    async def by_code(self, code: str, *, for_update: bool = False) -> Dossier | None:
        found = [d for d in self.store.dossiers.values() if d.code == code]
        return self._hand_out(found[0]) if found else None

    async def by_idempotency_key(self, key: str) -> Dossier | None:
        dossier_id = self.store.keys.get(key)
        return None if dossier_id is None else self._hand_out(self.store.dossiers[dossier_id])

    async def of_applicant(self, personal_id: str, limit: int) -> list[Dossier]:
        found = [d for d in self.store.dossiers.values() if d.applicant_personal_id == personal_id]
        found.sort(key=lambda d: (d.submitted_at, d.code), reverse=True)
        return [self._hand_out(d) for d in found[:limit]]

    async def save(self) -> None:
        self.store.dossiers.update({dossier_id: _copy(d) for dossier_id, d in self.seen.items()})
        self.store.keys.update(self.keys)
        self.store.sequences.update(self.sequences)

    def _hand_out(self, dossier: Dossier) -> Dossier:
        return self.seen.setdefault(dossier.id, _copy(dossier))


def _copy(dossier: Dossier) -> Dossier:
    return dataclasses.replace(dossier, events=[])


class NoPayments:
    """No dossier here owes fees (payments have their own tests: test_payments_integration.py)."""

    async def load(self, dossier_ids: Collection[uuid.UUID]) -> None:
        pass

    def get(self, dossier_id: uuid.UUID) -> None:
        return None

    async def save(self) -> None:
        pass


class FakeUnitOfWork(IntakeUnitOfWork):
    def __init__(self, store: Store) -> None:  # no session: nothing here reaches a database
        self.store = store
        self.dossiers = FakeDossierRepository(store)
        self.payments = NoPayments()  # type: ignore[assignment]
        self.staged: list[Envelope[Any]] = []
        self.hooks: list[Callable[[], None]] = []

    def stage(self, *envelopes: Envelope[Any]) -> None:
        self.staged += envelopes

    def after_commit(self, hook: Callable[[], None]) -> None:
        self.hooks.append(hook)

    def commit(self) -> None:
        self.store.published += self.staged
        for hook in self.hooks:
            hook()


def units_of(store: Store) -> Callable[[], AbstractAsyncContextManager[IntakeUnitOfWork]]:
    @asynccontextmanager
    async def unit() -> AsyncIterator[IntakeUnitOfWork]:
        work = FakeUnitOfWork(store)
        yield work  # an error leaves the block: nothing is saved, nothing published
        await work.flush()
        work.commit()

    return unit


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def submissions(store: Store) -> Submissions:
    return Submissions(units_of(store), default_catalogue(), vietnam_calendar(), UNITS, TrackingSecrets("k"))


def request(**changes: Any) -> SubmissionRequest:
    body: dict[str, Any] = {
        "procedure_code": "1.001193",
        "channel": "online",
        "applicant": {
            "personal_id": APPLICANT,
            "full_name": "Nguyễn Văn An",
            "date_of_birth": "1985-04-12",
            "email": "an@example.vn",
        },
        "form": {
            "child_full_name": "Nguyễn Thị Bình",
            "child_date_of_birth": "2026-02-27",
            "child_sex": "female",
            "place_of_birth": "Bệnh viện Phụ sản Hà Nội",
            "relationship": "father",
        },
    }
    return SubmissionRequest.model_validate({**body, **changes})


def submitted(store: Store) -> list[DossierSubmitted]:
    return [envelope.data for envelope in store.published if isinstance(envelope.data, DossierSubmitted)]


# --- submitting ----------------------------------------------------------------------------------------


async def test_a_submission_keeps_a_numbered_dossier_and_announces_it(
    store: Store, submissions: Submissions
) -> None:
    receipt, created = await submissions.submit(request(), "key-00000001")

    assert created
    [dossier] = store.dossiers.values()
    assert dossier.code == receipt.dossier_code
    assert receipt.dossier_code.startswith("000.00.01.H26-") and receipt.dossier_code.endswith("-0001")
    [event] = submitted(store)
    assert (event.dossier_id, event.dossier_code) == (receipt.dossier_id, receipt.dossier_code)
    assert event.tracking_secret == receipt.tracking_secret is not None
    assert event.due_date == receipt.appointment_date
    assert store.published[0].source == "urn:dossierbus:intake:000.00.01.H26"


async def test_each_unit_numbers_its_own_dossiers(store: Store, submissions: Submissions) -> None:
    first, _ = await submissions.submit(request(), "key-00000001")
    second, _ = await submissions.submit(request(), "key-00000002")
    other, _ = await submissions.submit(request(receiving_unit="000.00.01.H48"), "key-00000003")

    assert [first.dossier_code[-4:], second.dossier_code[-4:]] == ["0001", "0002"]
    assert other.dossier_code.startswith("000.00.01.H48-") and other.dossier_code.endswith("-0001")


async def test_a_retry_answers_the_same_receipt_and_keeps_nothing_new(
    store: Store, submissions: Submissions
) -> None:
    first, _ = await submissions.submit(request(), "key-00000001")
    again, created = await submissions.submit(request(), "key-00000001")

    assert (again, created) == (first, False)
    assert len(store.dossiers) == 1
    assert len(submitted(store)) == 1
    following, _ = await submissions.submit(request(), "key-00000002")
    assert following.dossier_code.endswith("-0002")  # the retry took no number


async def test_the_same_key_with_another_body_is_a_conflict(store: Store, submissions: Submissions) -> None:
    await submissions.submit(request(), "key-00000001")
    with pytest.raises(IdempotencyConflict):
        await submissions.submit(request(channel="direct"), "key-00000001")
    assert len(store.dossiers) == 1


async def test_a_retry_after_the_key_changed_shows_no_tracking_secret(store: Store) -> None:
    before = Submissions(
        units_of(store), default_catalogue(), vietnam_calendar(), UNITS, TrackingSecrets("a")
    )
    after = Submissions(units_of(store), default_catalogue(), vietnam_calendar(), UNITS, TrackingSecrets("b"))
    first, _ = await before.submit(request(), "key-00000001")

    again, _ = await after.submit(request(), "key-00000001")

    assert first.tracking_secret is not None
    assert again.tracking_secret is None
    assert again.dossier_code == first.dossier_code


async def test_a_refused_submission_keeps_and_announces_nothing(
    store: Store, submissions: Submissions
) -> None:
    with pytest.raises(SubmissionRefused):
        await submissions.submit(request(procedure_code="9.999999"), "key-00000001")
    assert store.dossiers == {}
    assert store.published == []


async def test_identical_submissions_at_once_make_one_dossier(store: Store, submissions: Submissions) -> None:
    answers = await asyncio.gather(*(submissions.submit(request(), "key-00000001") for _ in range(5)))

    assert sorted(created for _, created in answers) == [False] * 4 + [True]
    assert len({receipt for receipt, _ in answers}) == 1
    assert len(store.dossiers) == 1


# --- status changes and ratings ------------------------------------------------------------------------


def status_change(dossier: Dossier, status: DossierStatus) -> Envelope[DossierStatusChanged]:
    return Envelope(
        DossierStatusChanged(
            dossier_id=dossier.id,
            dossier_code=dossier.code,
            procedure_code=dossier.procedure_code,
            previous_status=None,
            status=status,
            due_date=dossier.due_date,
            changed_at=datetime.now(UTC),
        ),
        source="urn:dossierbus:routing",
    )


async def consume(store: Store, *envelopes: Envelope[DossierStatusChanged]) -> None:
    """As the consumer does with a batch: load for all, handle each, flush once."""
    async with units_of(store)() as uow:
        await uow.load(envelopes)
        for envelope in envelopes:
            await on_status_changed(uow, envelope)


async def received(store: Store, submissions: Submissions) -> Dossier:
    receipt, _ = await submissions.submit(request(), f"key-{uuid.uuid4()}")
    return store.dossiers[receipt.dossier_id]


async def test_status_changes_of_a_batch_leave_the_latest_status(
    store: Store, submissions: Submissions
) -> None:
    dossier = await received(store, submissions)

    await consume(
        store,
        status_change(dossier, DossierStatus.ACCEPTED),
        status_change(dossier, DossierStatus.PROCESSING),
    )

    assert store.dossiers[dossier.id].status == "processing"
    assert store.dossiers[dossier.id].finished_at is None


async def test_a_status_change_of_a_dossier_received_elsewhere_changes_nothing(store: Store) -> None:
    elsewhere = Dossier(
        uuid.uuid4(), "000.00.09.H01-261126-0001", "1.001193", "online", APPLICANT, datetime.now(UTC),
        date(2026, 11, 27), "f", None,
    )  # fmt: skip
    await consume(store, status_change(elsewhere, DossierStatus.RETURNED))
    assert store.dossiers == {}


async def test_a_returned_dossier_is_rated_once_by_its_applicant(
    store: Store, submissions: Submissions
) -> None:
    dossier = await received(store, submissions)
    ratings = Ratings(units_of(store))
    applicant = Caller(Role.CITIZEN, APPLICANT)
    with pytest.raises(NotFinished):
        await ratings.rate(dossier.code, 5, applicant)

    await consume(store, status_change(dossier, DossierStatus.RETURNED))
    rating, created = await ratings.rate(dossier.code, 5, applicant)
    again, created_again = await ratings.rate(dossier.code, 5, Caller(Role.PORTAL, "portal"))

    assert (rating.score, created, created_again) == (5, True, False)
    assert again == rating
    [event] = [envelope for envelope in store.published if isinstance(envelope.data, DossierRated)]
    assert (event.data.dossier_code, event.data.score) == (dossier.code, 5)
    assert event.source == "urn:dossierbus:intake:000.00.01.H26"
    with pytest.raises(AlreadyRated):
        await ratings.rate(dossier.code, 1, applicant)


@pytest.mark.parametrize("code", ["000.00.01.H26-261126-9999", None])
async def test_only_the_applicant_or_the_portal_may_rate(
    store: Store, submissions: Submissions, code: str | None
) -> None:
    dossier = await received(store, submissions)
    await consume(store, status_change(dossier, DossierStatus.RETURNED))
    stranger = Caller(Role.CITIZEN, "079123456789")
    caller = stranger if code is None else Caller(Role.PORTAL, "portal")

    with pytest.raises(UnknownDossier):
        await Ratings(units_of(store)).rate(code or dossier.code, 4, caller)
    assert store.dossiers[dossier.id].rating is None

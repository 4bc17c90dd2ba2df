"""Submissions and status changes on a real PostgreSQL: what they cost the database, dossier numbers taken
in SQL, identical submissions racing from two replicas, and a pooled connection the server dropped."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text, update

from dossierbus_devstack.dropped import one_pooled_connection
from dossierbus_devstack.statements import counting
from dossierbus_intake.adapters.tables import daily_sequences, dossiers
from dossierbus_intake.bootstrap import MIGRATIONS
from dossierbus_intake.domain.submission import SubmissionRequest, dossier_code
from dossierbus_intake.entrypoints.events import on_status_changed
from dossierbus_intake.submissions import Submissions
from dossierbus_intake.tracking import TrackingSecrets
from dossierbus_intake.unit_of_work import IntakeUnitOfWork
from dossierbus_shared.calendar import vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierStatus, DossierStatusChanged
from dossierbus_shared.outbox import outbox

UNIT = "000.00.01.H26"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    schema = f"i{uuid.uuid4().hex[:10]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    database = Database(database_url, schema, pool_size=2)
    yield database
    await database.dispose()


def intake(db: Database) -> Submissions:
    """One replica's submissions use case."""
    return Submissions(
        lambda: db.unit_of_work(IntakeUnitOfWork),
        default_catalogue(),
        vietnam_calendar(),
        [UNIT],
        TrackingSecrets("k"),
    )


def request() -> SubmissionRequest:
    return SubmissionRequest.model_validate(
        {
            "procedure_code": "1.001193",
            "channel": "online",
            "applicant": {
                "personal_id": "001085123456",
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
    )


async def test_a_submission_is_one_transaction_of_two_statements(db: Database) -> None:
    submissions = intake(db)
    await submissions.submit(request(), f"warm-{uuid.uuid4()}")  # the pool's connection is made

    with counting(db) as submitting:
        receipt, created = await submissions.submit(request(), "key-00000001")
    with counting(db) as retrying:
        again, replayed = await submissions.submit(request(), "key-00000001")

    print(f"\nsubmission: {dict(submitting)}; retry: {dict(retrying)}")
    # The dossier with its number; the outbox row (the commit wakes the relay in-process: no NOTIFY).
    assert submitting == {"statements": 2, "transactions": 1}
    # The same, rolled back, then the dossier under the key.
    assert retrying == {"statements": 2, "transactions": 2}
    assert (created, replayed, again) == (True, False, receipt)
    async with db.transaction() as session:
        staged = (await session.execute(select(outbox.c.subject))).scalars().all()
    assert staged.count(receipt.dossier_code) == 1


async def test_numbers_taken_in_sql_are_the_domains_codes_past_four_digits(db: Database) -> None:
    submissions = intake(db)
    first, _ = await submissions.submit(request(), f"key-{uuid.uuid4()}")
    day = vietnam_calendar().local_date(first.submitted_at)
    assert first.dossier_code == dossier_code(UNIT, day, 1)

    async with db.transaction() as session:
        await session.execute(update(daily_sequences).values(last=9998))
    codes = [(await submissions.submit(request(), f"key-{uuid.uuid4()}"))[0].dossier_code for _ in range(2)]

    assert codes == [dossier_code(UNIT, day, 9999), dossier_code(UNIT, day, 10000)]
    assert codes[1].endswith("-10000")


async def test_identical_submissions_from_two_replicas_make_one_dossier_and_skip_no_number(
    db: Database,
) -> None:
    replicas = [intake(db), intake(db)]
    answers = await asyncio.gather(*(replica.submit(request(), "key-raced-01") for replica in replicas * 3))

    assert Counter(created for _, created in answers) == {True: 1, False: 5}
    assert len({receipt.dossier_code for receipt, _ in answers}) == 1
    following, _ = await replicas[0].submit(request(), f"key-{uuid.uuid4()}")
    assert following.dossier_code.endswith("-0002")
    async with db.transaction() as session:
        kept = (await session.execute(select(dossiers.c.idempotency_key))).scalars().all()
    assert sorted(kept).count("key-raced-01") == 1


async def test_a_pooled_connection_the_server_dropped_costs_the_caller_nothing(database_url: str) -> None:
    schema = f"i{uuid.uuid4().hex[:10]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    async with one_pooled_connection(database_url, schema) as pooled:
        submissions = intake(pooled.db)
        receipt, _ = await submissions.submit(request(), f"key-{uuid.uuid4()}")
        await pooled.drop()

        found = await submissions.find(receipt.dossier_code)
        later, created = await submissions.submit(request(), f"key-{uuid.uuid4()}")

    assert len(pooled.invalidations) == 1  # the first try met the dead connection; the second had a fresh one
    assert found is not None and found.code == receipt.dossier_code
    assert created and later.dossier_code.endswith("-0002")


async def test_a_batch_of_status_changes_is_one_query_and_one_update(db: Database) -> None:
    submissions = intake(db)
    received = [(await submissions.submit(request(), f"key-{uuid.uuid4()}"))[0] for _ in range(10)]
    changes = [
        Envelope(
            DossierStatusChanged(
                dossier_id=receipt.dossier_id,
                dossier_code=receipt.dossier_code,
                procedure_code=receipt.procedure_code,
                previous_status=DossierStatus.PROCESSING,
                status=status,
                due_date=receipt.appointment_date,
                changed_at=datetime.now(UTC),
            ),
            source="urn:dossierbus:routing",
        )
        for receipt in received
        for status in (DossierStatus.RESULT_READY, DossierStatus.RETURNED)
    ]

    with counting(db) as consuming:
        async with db.unit_of_work(IntakeUnitOfWork) as uow:
            await uow.load(changes)
            for change in changes:
                await on_status_changed(uow, change)

    print(f"\n{len(changes)} status changes: {dict(consuming)}")
    assert consuming == {"statements": 2, "transactions": 1}
    async with db.transaction() as session:
        rows = (await session.execute(select(dossiers.c.status, dossiers.c.finished_at))).all()
    assert {status for status, _ in rows} == {"returned"}
    assert all(finished is not None for _, finished in rows)


def request_of(personal_id: str) -> SubmissionRequest:
    body = request().model_dump(mode="json")
    body["applicant"]["personal_id"] = personal_id
    return SubmissionRequest.model_validate(body)


async def test_a_citizens_own_dossiers_come_newest_first_by_the_index(db: Database) -> None:
    """The citizen page's list: hers only, newest first, at most `limit`, read through the index on the
    applicant's personal ID (the planner may use it: the query's expression is the index's)."""
    submissions = intake(db)
    hers = [(await submissions.submit(request(), f"key-{uuid.uuid4()}"))[0].dossier_code for _ in range(3)]
    await submissions.submit(request_of("079190654321"), f"key-{uuid.uuid4()}")

    listed = await submissions.of_applicant("001085123456", 10)
    assert [dossier.code for dossier in listed] == hers[::-1]
    assert [d.code for d in await submissions.of_applicant("001085123456", 2)] == hers[:0:-1]
    assert await submissions.of_applicant("001999999999", 10) == []

    async with db.transaction() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            (
                await session.execute(
                    text("EXPLAIN SELECT code FROM dossiers WHERE (applicant ->> 'personal_id') = :pid"),
                    {"pid": "001085123456"},
                )
            ).scalars()
        )
    assert "dossiers_applicant_personal_id" in plan, plan


async def test_the_applicant_index_is_added_to_a_database_made_before_it(database_url: str) -> None:
    schema = f"i{uuid.uuid4().hex[:10]}"
    await upgrade_async(database_url, schema, MIGRATIONS, revision="intake_parked")
    database = Database(database_url, schema, pool_size=1)
    try:
        async with database.transaction() as session:
            await session.execute(text("DROP INDEX dossiers_applicant_personal_id"))  # as 0001 made it before
        await upgrade_async(database_url, schema, MIGRATIONS)
        async with database.transaction() as session:
            found = await session.scalar(
                text("SELECT indexdef FROM pg_indexes WHERE schemaname = :schema AND indexname = :name"),
                {"schema": schema, "name": "dossiers_applicant_personal_id"},
            )
    finally:
        await database.dispose()
    assert found is not None and "personal_id" in found and "submitted_at DESC" in found

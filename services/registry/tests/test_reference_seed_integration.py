"""The synthetic reference national databases, loaded with COPY into real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from dossierbus_devstack.eventually import eventually
from dossierbus_registry.adapters.cache import CachedNationalDatabases
from dossierbus_registry.adapters.changes import ChangeListener
from dossierbus_registry.adapters.population import ReferenceNationalDatabases
from dossierbus_registry.admin_units import COMMUNES
from dossierbus_registry.domain import Citizen
from dossierbus_registry.seeding import seed
from dossierbus_registry.synthetic import DEVELOPMENT_APPLICANTS, citizens
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async
from dossierbus_shared.identifiers import PROVINCES_2025, personal_id_problems, tax_code_problems

MIGRATIONS = Path(__file__).parents[1] / "dossierbus_registry" / "migrations"
CITIZENS = 20_000
ENTERPRISES = 2_000


@pytest.fixture(scope="module")
async def reference(database_url: str) -> AsyncIterator[Database]:
    schema = f"registry_seed_{uuid.uuid4().hex[:8]}"
    await upgrade_async(database_url, schema, MIGRATIONS)
    db = Database(database_url, schema, pool_size=2)
    try:
        yield db
    finally:
        async with db.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await db.dispose()


@pytest.fixture(scope="module")
async def seeded(reference: Database) -> Database:
    loaded = await seed(reference, CITIZENS, ENTERPRISES)
    assert [item.table for item in loaded] == ["citizens", "enterprises"]
    assert loaded[0].generated == loaded[0].added == CITIZENS + len(DEVELOPMENT_APPLICANTS)
    assert loaded[1].generated == loaded[1].added >= ENTERPRISES
    return reference


async def rows(db: Database, sql: str) -> list[tuple[object, ...]]:
    async with db.transaction() as session:
        return [tuple(row) for row in (await session.execute(text(sql))).all()]


async def test_every_citizen_is_valid_and_unique(seeded: Database) -> None:
    people = await rows(
        seeded, "SELECT personal_id, date_of_birth, sex, province_code, commune_code, full_name FROM citizens"
    )
    assert len(people) == CITIZENS + len(DEVELOPMENT_APPLICANTS)
    assert len({person[0] for person in people}) == len(people)
    for personal_id, born, sex, province, commune, name in people:
        assert personal_id_problems(str(personal_id), born, str(sex)) == [], personal_id  # type: ignore[arg-type]
        assert province in PROVINCES_2025
        assert commune in {code for code, _ in COMMUNES[str(province)]}
        assert 3 <= len(str(name).split()) <= 4
    assert {person[2] for person in people} == {"male", "female"}
    assert {str(person[0])[3] for person in people} == {"0", "1", "2", "3"}


async def test_the_seeded_people_are_the_deterministic_ones(seeded: Database) -> None:
    national = ReferenceNationalDatabases(seeded)
    for person in list(citizens(50)):
        assert await national.citizen(person.personal_id) == person


async def test_the_documented_applicants_are_seeded_as_documented(seeded: Database) -> None:
    national = ReferenceNationalDatabases(seeded)
    for row in DEVELOPMENT_APPLICANTS:
        assert await national.citizen(row[0]) == Citizen(*row)


async def test_enterprises_have_valid_codes_branches_and_real_representatives(seeded: Database) -> None:
    firms = await rows(seeded, "SELECT tax_code, legal_representative_id, status FROM enterprises")
    codes = {str(firm[0]) for firm in firms}
    for tax_code, _, _ in firms:
        assert tax_code_problems(str(tax_code)) == [], tax_code
    branches = [code for code in codes if len(code) == 13]
    assert branches and all(code[:10] in codes for code in branches)
    assert len(codes) - len(branches) == ENTERPRISES
    orphans = await rows(
        seeded,
        "SELECT e.tax_code FROM enterprises e LEFT JOIN citizens c"
        " ON c.personal_id = e.legal_representative_id WHERE c.personal_id IS NULL",
    )
    assert orphans == []
    assert {firm[2] for firm in firms} == {"active", "suspended", "dissolved"}


async def test_seeding_again_adds_nothing(seeded: Database) -> None:
    again = await seed(seeded, 1_000, 100)
    assert [(item.generated > 0, item.added) for item in again] == [(True, 0), (True, 0)]
    assert await rows(seeded, "SELECT count(*) FROM citizens") == [(CITIZENS + len(DEVELOPMENT_APPLICANTS),)]


async def test_a_changed_record_leaves_the_cache_through_notify(seeded: Database) -> None:
    cache = CachedNationalDatabases(ReferenceNationalDatabases(seeded), ttl_s=3600)
    listener = ChangeListener(seeded, cache)
    listening = asyncio.create_task(listener.run())
    someone = next(citizens(1))
    renamed = "Trần Thị Mới"
    try:
        await asyncio.wait_for(listener.listening.wait(), 10)
        assert await cache.citizen(someone.personal_id) == someone
        assert await cache.citizen(someone.personal_id) == someone
        assert cache.hits == 1
        await rename(seeded, someone.personal_id, renamed)

        async def renamed_in_cache() -> None:
            record = await cache.citizen(someone.personal_id)
            assert record and record.full_name == renamed, record

        await eventually(renamed_in_cache)
        assert listener.notices == 1
    finally:
        listening.cancel()
        await rename(seeded, someone.personal_id, someone.full_name)


async def rename(db: Database, personal_id: str, name: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE citizens SET full_name = :name WHERE personal_id = :id"),
            {"name": name, "id": personal_id},
        )

"""What a citizen may ask of the registry: who read my data, when and why (auditors may ask too); and the
once-only rate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from dossierbus_registry import views
from dossierbus_registry.entrypoints.auth import Auditor, CitizenOrAuditor
from dossierbus_registry.entrypoints.dependencies import KeyDep, UnitOfWorkDep
from dossierbus_registry.entrypoints.roles import Role
from dossierbus_registry.lookups import reader_chain
from dossierbus_shared.db import retry_dropped_connection
from dossierbus_shared.events import AGENCY_CODE_PATTERN
from dossierbus_shared.http_errors import ProblemError

router = APIRouter(tags=["citizens"])
Subject = Annotated[str, Path(pattern=r"^\d{10}(\d{2,3})?$", description="A personal ID or a tax code")]


@router.get(
    "/access-log/{subject}",
    summary="Who read a citizen's (or an enterprise's) data, when and why: the citizen's own, or any for "
    "auditors",
)
async def who_read_my_data(
    subject: Subject, caller: CitizenOrAuditor, unit_of_work: UnitOfWorkDep, key: KeyDep
) -> dict[str, Any]:
    if caller.role == Role.CITIZEN and caller.subject != subject:
        raise ProblemError(403, "Forbidden", "a citizen reads only the log of their own personal ID")

    async def read() -> dict[str, Any]:
        async with unit_of_work() as uow:
            return await views.access_log_of(uow, subject, key)

    return await retry_dropped_connection(read)  # a read: once more on a connection a restart left dead


@router.get(
    "/access-log/readers/{reader}",
    summary="Auditors: requests refused to a reader (agency code or `portal`) about subjects it had no "
    "standing for",
)
async def refused_to_reader(
    reader: Annotated[str, Path(pattern=AGENCY_CODE_PATTERN)],
    auditor: Auditor,
    unit_of_work: UnitOfWorkDep,
    key: KeyDep,
) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with unit_of_work() as uow:
            return await views.access_log_of(uow, reader_chain(reader), key)

    return await retry_dropped_connection(read)


@router.get("/once-only", summary="Fields filled from national data versus typed, per procedure")
async def once_only(
    unit_of_work: UnitOfWorkDep, procedure_code: Annotated[str | None, Query(max_length=32)] = None
) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with unit_of_work() as uow:
            return await views.once_only(uow, procedure_code)

    return await retry_dropped_connection(read)

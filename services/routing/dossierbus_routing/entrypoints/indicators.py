from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from dossierbus_routing.adapters.indicators import counts
from dossierbus_routing.domain.indicators import Counts, judged_as_of, report
from dossierbus_routing.entrypoints.dependencies import RoutingContext, UnitsOfWork
from dossierbus_shared.auth import Caller, Role, authenticated
from dossierbus_shared.bounds import BoundedDate
from dossierbus_shared.db import retry_dropped_connection
from dossierbus_shared.http_errors import ProblemError

router = APIRouter(tags=["indicators"])


@router.get("/indicators", summary="Decision 766 service-quality indicators per agency and procedure")
async def indicators(
    context: RoutingContext,
    units_of_work: UnitsOfWork,
    agency: Annotated[str | None, Query(description="Agency code, e.g. justice-hanoi")] = None,
    procedure: Annotated[str | None, Query(description="Procedure code (mã TTHC), e.g. 1.001193")] = None,
    received_from: Annotated[
        BoundedDate | None, Query(alias="from", description="First day of receipt (local date, inclusive)")
    ] = None,
    received_to: Annotated[
        BoundedDate | None, Query(alias="to", description="Last day of receipt (local date, inclusive)")
    ] = None,
    *,
    _caller: Annotated[Caller, authenticated(Role.OPERATOR, Role.PORTAL)],
) -> dict[str, Any]:
    """For operators and the portal (which publishes them). Counts, rates and the points of the
    Decision 766 components the bus measures, for the dossiers received in the period; unfinished
    dossiers are judged as of the period's last day (today for a period that has not ended)."""
    catalogue = context.catalogue
    errors = []
    if agency is not None and agency not in catalogue.agencies:
        errors.append({"field": "agency", "message": "no such agency in the catalogue", "type": "unknown"})
    if procedure is not None and catalogue.procedure(procedure) is None:
        errors.append(
            {"field": "procedure", "message": "no such procedure in the catalogue", "type": "unknown"}
        )
    if received_from and received_to and received_from > received_to:
        errors.append({"field": "from", "message": "must not be after 'to'", "type": "range"})
    if errors:
        fields = ", ".join(error["field"] for error in errors)
        raise ProblemError(422, "Invalid request", f"invalid: {fields}", errors=errors)
    today = context.today()

    async def read() -> list[Counts]:
        async with units_of_work() as uow:
            return await counts(
                uow.session,
                context.calendar,
                today=today,
                agency=agency,
                procedure=procedure,
                received_from=received_from,
                received_to=received_to,
            )

    found = await retry_dropped_connection(read)  # a read: run again on a connection a restart left dead
    return {
        "as_of": judged_as_of(today, received_to).isoformat(),
        "from": received_from.isoformat() if received_from else None,
        "to": received_to.isoformat() if received_to else None,
        "indicators": [report(item) for item in found],
    }

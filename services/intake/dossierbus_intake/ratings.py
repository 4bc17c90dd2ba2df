"""Rating a dossier: one satisfaction rating per dossier once its processing has ended, by its applicant or
the portal at the desk, staged as `dossier.rated` in the transaction that keeps it."""

from __future__ import annotations

from datetime import UTC, datetime

from dossierbus_intake.domain.dossier import Rating
from dossierbus_intake.unit_of_work import UnitsOfWork
from dossierbus_shared.auth import Caller, Role
from dossierbus_shared.db import retry_dropped_connection
from dossierbus_shared.telemetry import mark_dossier


class UnknownDossier(Exception):
    """No such dossier, or none the caller may rate."""


class Ratings:
    def __init__(self, units: UnitsOfWork) -> None:
        self.units = units

    async def rate(self, code: str, score: int, caller: Caller) -> tuple[Rating, bool]:
        """The rating, and whether this call recorded it (False: the same rating was given before).
        The dossier is locked while the rating is decided: two raters at once are answered in turn."""

        async def rate() -> tuple[Rating, bool]:
            async with self.units() as uow:
                dossier = await uow.dossiers.by_code(code, for_update=True)
                if dossier is None or not (
                    caller.role is Role.PORTAL or caller.is_citizen(dossier.applicant_personal_id)
                ):
                    raise UnknownDossier(code)
                mark_dossier(code, str(dossier.id))
                rated = dossier.rate(score, datetime.now(UTC))
                uow.publish(dossier)
            return rated

        return await retry_dropped_connection(rate)

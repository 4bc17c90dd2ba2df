"""Intake's HTTP API: submitting a dossier, following it, rating it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from dossierbus_intake.domain.dossier import AlreadyRated, Dossier, IdempotencyConflict, NotFinished
from dossierbus_intake.domain.submission import SubmissionRefused, SubmissionRequest
from dossierbus_intake.ratings import Ratings, UnknownDossier
from dossierbus_intake.submissions import Submissions
from dossierbus_intake.tracking import TRACKING_SECRET_HEADER, tracking_secret_matches
from dossierbus_shared.auth import Caller, Role, authenticated, identified
from dossierbus_shared.http_errors import ProblemError, problem, problem_responses


class RatingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(strict=True, ge=1, le=5, description="1 (very dissatisfied) to 5 (very satisfied)")


def router(submissions: Submissions, ratings: Ratings) -> APIRouter:
    """The routes, on the use cases `bootstrap()` made."""
    routes = APIRouter(tags=["dossiers"])

    @routes.post("/dossiers", status_code=202, summary="Submit a dossier for a procedure")
    async def submit_dossier(
        body: SubmissionRequest,
        idempotency_key: Annotated[
            str, Header(min_length=8, max_length=200, description="Unique per submission")
        ],
        caller: Annotated[Caller, authenticated(Role.CITIZEN, Role.PORTAL)],
    ) -> JSONResponse:
        """Accepts the dossier and answers with its code, appointment date and tracking secret (shown this
        once). Repeating the call with the same `Idempotency-Key` and body answers the same receipt,
        without the tracking secret, and creates nothing new. The portal submits for anyone; a citizen
        only as the applicant (for a business, its legal representative)."""
        if caller.role is Role.CITIZEN and not caller.is_citizen(body.applicant.personal_id):
            raise ProblemError(
                403,
                "Not the applicant",
                "a citizen submits only dossiers of which she is the applicant",
                errors=[
                    {
                        "field": "applicant.personal_id",
                        "location": "body",
                        "message": "is not the signed-in citizen's personal ID",
                        "type": "forbidden",
                    }
                ],
            )
        try:
            receipt, created = await submissions.submit(body, idempotency_key)
        except SubmissionRefused as refused:
            return problem(422, "Invalid submission", refused.detail, refused.errors)
        except IdempotencyConflict:
            raise ProblemError(
                422,
                "Idempotency key reused",
                "this Idempotency-Key was already used for a different request",
                errors=[
                    {
                        "field": "Idempotency-Key",
                        "message": "already used with another body",
                        "type": "conflict",
                    }
                ],
            ) from None
        return JSONResponse(
            receipt.as_json(),
            status_code=202,
            headers={
                "Location": f"/dossiers/{receipt.dossier_code}",
                "Idempotent-Replayed": str(not created).lower(),
            },
        )

    @routes.get(
        "/dossiers/{code}",
        summary="The receipt of a submitted dossier, and its latest status",
        responses=problem_responses(403, 404),
    )
    async def get_dossier(
        code: str,
        caller: Annotated[Caller | None, identified()],
        tracking_secret: Annotated[
            str | None,
            Header(
                alias=TRACKING_SECRET_HEADER,
                max_length=200,
                description="The receipt's tracking secret, for a citizen without eID (instead of a token)",
            ),
        ] = None,
    ) -> dict[str, object]:
        """For the applicant (citizen token), the portal, an operator, or whoever holds the receipt's
        tracking secret. Anyone else is told there is no such dossier."""
        if caller is None and tracking_secret is None:
            raise ProblemError(
                401, "Unauthenticated", f"send `Authorization: Bearer <token>` or `{TRACKING_SECRET_HEADER}`"
            )
        if caller is not None and caller.role not in {Role.CITIZEN, Role.PORTAL, Role.OPERATOR}:
            raise ProblemError(403, "Forbidden", f"the {caller.role.value} role may not do this")
        found = await submissions.find(code)
        if found is None or not _may_see(found, caller, tracking_secret):
            raise ProblemError(404, "Not found", f"no dossier {code!r}")
        return found.view(submissions.calendar)

    @routes.post(
        "/dossiers/{code}/rating",
        status_code=202,
        summary="Rate how a dossier was handled",
        responses=problem_responses(404, described={409: "Not finished yet, or already rated"}),
    )
    async def rate_dossier(
        code: str,
        body: RatingRequest,
        caller: Annotated[Caller, authenticated(Role.CITIZEN, Role.PORTAL)],
    ) -> JSONResponse:
        """One satisfaction rating (1 to 5) per dossier, once its processing has ended (returned, rejected
        or withdrawn), by its applicant (citizen token) or the portal at the desk. Sending the same score
        again answers the recorded rating; a different score is refused."""
        try:
            rating, created = await ratings.rate(code, body.score, caller)
        except UnknownDossier:
            raise ProblemError(404, "Not found", f"no dossier {code!r}") from None
        except NotFinished:
            raise ProblemError(
                409,
                "Not finished",
                f"dossier {code!r} is still being processed; it can be rated once it is returned or closed",
                errors=[
                    {
                        "field": "code",
                        "message": "the dossier is still being processed",
                        "type": "not_finished",
                    }
                ],
            ) from None
        except AlreadyRated as earlier:
            raise ProblemError(
                409,
                "Already rated",
                f"dossier {code!r} was already rated {earlier.score}; a dossier is rated once",
                errors=[
                    {"field": "score", "message": "this dossier already has a rating", "type": "conflict"}
                ],
            ) from None
        return JSONResponse(
            rating.as_json(), status_code=202, headers={"Idempotent-Replayed": str(not created).lower()}
        )

    return routes


def _may_see(dossier: Dossier, caller: Caller | None, tracking_secret: str | None) -> bool:
    if tracking_secret_matches(tracking_secret, dossier.tracking_secret_sha256):
        return True
    if caller is None:
        return False
    return caller.role in {Role.PORTAL, Role.OPERATOR} or caller.is_citizen(dossier.applicant_personal_id)

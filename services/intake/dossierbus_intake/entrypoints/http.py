from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from dossierbus_intake.domain import SubmissionRefused, SubmissionRequest
from dossierbus_intake.ratings import AlreadyRated, NotFinished, RatingRequest, Ratings, UnknownDossier
from dossierbus_intake.submissions import IdempotencyConflict, Submissions
from dossierbus_shared.http_errors import ProblemError, problem, problem_responses

router = APIRouter(tags=["dossiers"])


def submissions(request: Request) -> Submissions:
    return request.app.state.submissions  # type: ignore[no-any-return]


@router.post("/dossiers", status_code=202, summary="Submit a dossier for a procedure")
async def submit_dossier(
    body: SubmissionRequest,
    request: Request,
    idempotency_key: Annotated[
        str, Header(min_length=8, max_length=200, description="Unique per submission")
    ],
) -> JSONResponse:
    """Accepts the dossier and answers with its code and appointment date. Repeating the call with the
    same `Idempotency-Key` and body answers the same receipt and creates nothing new."""
    try:
        receipt, created = await submissions(request).submit(body, idempotency_key)
    except SubmissionRefused as refused:
        return problem(422, "Invalid submission", refused.detail, refused.errors)
    except IdempotencyConflict:
        raise ProblemError(
            422,
            "Idempotency key reused",
            "this Idempotency-Key was already used for a different request",
            errors=[
                {"field": "Idempotency-Key", "message": "already used with another body", "type": "conflict"}
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


@router.get(
    "/dossiers/{code}", summary="The receipt of a submitted dossier", responses=problem_responses(404)
)
async def get_dossier(code: str, request: Request) -> dict[str, object]:
    found = await submissions(request).find(code)
    if found is None:
        raise ProblemError(404, "Not found", f"no dossier {code!r}")
    return found


@router.post(
    "/dossiers/{code}/rating",
    status_code=202,
    summary="Rate how a dossier was handled",
    responses=problem_responses(404, described={409: "Not finished yet, or already rated"}),
)
async def rate_dossier(code: str, body: RatingRequest, request: Request) -> JSONResponse:
    """One satisfaction rating (1 to 5) per dossier, once its processing has ended (returned, rejected
    or withdrawn). Sending the same score again answers the recorded rating; a different score is
    refused."""
    ratings: Ratings = request.app.state.ratings
    try:
        rating, created = await ratings.rate(code, body.score)
    except UnknownDossier:
        raise ProblemError(404, "Not found", f"no dossier {code!r}") from None
    except NotFinished:
        raise ProblemError(
            409,
            "Not finished",
            f"dossier {code!r} is still being processed; it can be rated once it is returned or closed",
            errors=[
                {"field": "code", "message": "the dossier is still being processed", "type": "not_finished"}
            ],
        ) from None
    except AlreadyRated as earlier:
        raise ProblemError(
            409,
            "Already rated",
            f"dossier {code!r} was already rated {earlier.score}; a dossier is rated once",
            errors=[{"field": "score", "message": "this dossier already has a rating", "type": "conflict"}],
        ) from None
    return JSONResponse(
        rating.as_json(), status_code=202, headers={"Idempotent-Replayed": str(not created).lower()}
    )

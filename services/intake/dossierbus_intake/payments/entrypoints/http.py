"""Intake's payment API (docs/payments.md): the applicant (citizen token) or the portal opens and follows a
dossier's payment and reads its receipt; the payment platform calls back, signed, with no bearer token."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dossierbus_intake.payments.callbacks import BadCallback, verified_notice
from dossierbus_intake.payments.domain.payment import DossierClosed, NoRefundDue, NotThisOrder, WrongAmount
from dossierbus_intake.payments.platform import PlatformError
from dossierbus_intake.payments.signature import SIGNATURE_HEADER
from dossierbus_intake.payments.use_cases import (
    NothingOwed,
    Payments,
    PaymentsOff,
    UnknownDossier,
    UnknownOrder,
)
from dossierbus_shared.auth import Caller, Role, authenticated
from dossierbus_shared.http_errors import ProblemError, problem_responses

NOTHING_OWED = "No payment"
"""The title of the 404 a caller who may see the dossier gets when it owes nothing (`Not found` is the
title for everyone else), so that a client can tell the two apart."""
PLATFORM_RETRY_AFTER_S = 30
"""When to try again after the payment platform did not answer: it is outside, and slower to come back."""

Payer = Annotated[Caller, authenticated(Role.CITIZEN, Role.PORTAL)]
Operator = Annotated[Caller, authenticated(Role.OPERATOR)]


class FeeLine(BaseModel):
    step: str
    agency_code: str
    fee_vnd: int


class ReceiptSummary(BaseModel):
    number: str
    amount_vnd: int
    issued_at: datetime


class RefundSummary(BaseModel):
    reference: str
    amount_vnd: int
    reason: str
    refunded_at: datetime


class PaymentView(BaseModel):
    """A dossier's payment, as its applicant and the portal see it."""

    dossier_code: str
    amount_vnd: int = Field(description="What the dossier owes: the sum of its fee lines, as routing asked")
    fees: list[FeeLine]
    state: Literal["awaiting_payment", "pending", "paid", "refund_pending", "refund_refused", "refunded"]
    pay_url: str | None = Field(description="Where the citizen pays, while pending")
    receipt: ReceiptSummary | None
    refund: RefundSummary | None


class RefusedRefund(BaseModel):
    """A refund the payment platform refused for good, waiting for an operator."""

    dossier_code: str
    order_id: str | None
    amount_vnd: int
    reason: str = Field(description="Why the dossier is refunded")
    refused: str = Field(description="What the platform answered")
    refused_at: datetime


class Receipt(BaseModel):
    """The electronic receipt (biên lai điện tử)."""

    number: str
    dossier_code: str
    procedure_code: str
    amount_vnd: int
    fees: list[FeeLine]
    payment_reference: str = Field(description="The payment platform's transaction reference")
    paid_at: datetime
    issued_at: datetime
    refunded: bool


def router(payments: Payments, *, callback_secret: bytes | None, merchant_code: str | None) -> APIRouter:
    routes = APIRouter(tags=["payments"])

    @routes.post(
        "/dossiers/{code}/payment",
        summary="Open (or re-open) the dossier's payment at the payment platform",
        responses=problem_responses(
            404,
            described={
                409: "The dossier ended (refused or withdrawn) before it was paid",
                503: "No payment platform is configured, or it does not answer (try again later)",
            },
        ),
    )
    async def open_payment(code: str, caller: Payer) -> PaymentView:
        """For the applicant (citizen token) or the portal. Opens an order for what routing says the
        dossier owes and answers the payment with `pay_url`, where the citizen pays. An order already
        open is answered as it is (the same `pay_url`); once one failed, a new one is opened. A paid
        dossier is answered as it is, without `pay_url`."""
        try:
            payment = await payments.open(code, caller)
        except PaymentsOff:
            raise ProblemError(
                503,
                "Payments unavailable",
                "no payment platform is configured: dossiers cannot be paid online",
            ) from None
        except (UnknownDossier, NothingOwed) as error:
            raise _not_found(code, error) from None
        except DossierClosed as closed:
            raise ProblemError(409, "Dossier closed", f"{code}: {closed}; it is no longer paid for") from None
        except PlatformError as error:
            raise ProblemError(
                503,
                "Payment platform unavailable",
                f"the payment platform could not open the payment ({error}); try again later",
                headers={"Retry-After": str(PLATFORM_RETRY_AFTER_S)},
            ) from None
        return PaymentView.model_validate(payment.view())

    @routes.get(
        "/dossiers/{code}/payment",
        summary="What the dossier owes, and the state of its payment",
        responses=problem_responses(404),
    )
    async def get_payment(code: str, caller: Payer) -> PaymentView:
        """For the applicant (citizen token) or the portal: the amount and fee lines routing asked for, the
        state (`awaiting_payment`, `pending`, `paid`, `refund_pending`, `refund_refused` (the platform
        refused the refund; an operator is settling it), `refunded`), where to pay while pending, the
        receipt once paid and the refund once refunded. 404 (`No payment`) when the dossier owes
        nothing."""
        try:
            return PaymentView.model_validate((await payments.find(code, caller)).view())
        except (UnknownDossier, NothingOwed) as error:
            raise _not_found(code, error) from None

    @routes.get(
        "/dossiers/{code}/receipt",
        summary="The electronic receipt of a paid dossier",
        responses=problem_responses(404),
    )
    async def get_receipt(code: str, caller: Payer) -> Receipt:
        """For the applicant (citizen token) or the portal, once the dossier is paid (404 `Not paid`
        before): number, amount, fee lines, the platform's reference, when it was paid and issued, and
        whether it was refunded since."""
        try:
            receipt = (await payments.find(code, caller)).receipt_view()
        except (UnknownDossier, NothingOwed) as error:
            raise _not_found(code, error) from None
        if receipt is None:
            raise ProblemError(404, "Not paid", f"dossier {code!r} is not paid yet: it has no receipt")
        return Receipt.model_validate(receipt)

    @routes.post(
        "/payments/callback",
        summary="The payment platform's signed notice of an order (no bearer token)",
        responses=problem_responses(
            401,
            404,
            described={
                401: f"`{SIGNATURE_HEADER}` missing or wrong",
                409: "The order is not the dossier's open one",
                422: "Not a payment notice, another merchant's, or another amount than owed",
                503: "No payment platform is configured",
            },
        ),
    )
    async def callback(
        request: Request,
        signature: Annotated[
            str | None,
            Header(
                alias=SIGNATURE_HEADER,
                max_length=100,
                description="`sha256=` and the hex HMAC-SHA256 of the raw body, keyed with the merchant's "
                "secret",
            ),
        ] = None,
    ) -> JSONResponse:
        """The platform tells what became of an order: `paid`, `failed` or `pending`. The same notice twice,
        a replay or a `failed` after a `paid` change nothing and are answered 200 (`unchanged`); a notice
        refused (bad signature, another merchant, order or amount) changes nothing either."""
        if callback_secret is None or merchant_code is None:
            raise ProblemError(503, "Payments unavailable", "no payment platform is configured")
        raw = await request.body()
        try:
            notice = verified_notice(raw, signature, secret=callback_secret, merchant_code=merchant_code)
            payment, outcome = await payments.settle(notice)
        except BadCallback as bad:
            raise ProblemError(bad.status, bad.title, bad.detail, errors=bad.errors) from None
        except UnknownOrder as unknown:
            raise ProblemError(404, "Unknown order", f"no payment has order {unknown} open") from None
        except NotThisOrder as other:
            raise ProblemError(
                409, "Not the open order", f"order {other} is not its dossier's open payment"
            ) from None
        except WrongAmount as wrong:
            raise ProblemError(
                422,
                "Wrong amount",
                f"the notice says {wrong}",
                errors=[
                    {"field": "amount_vnd", "location": "body", "message": str(wrong), "type": "mismatch"}
                ],
            ) from None
        return JSONResponse(
            {"order_id": notice.order_id, "outcome": outcome.value, "state": payment.state.value}
        )

    @routes.get(
        "/payments/refunds-refused",
        summary="Refunds the payment platform refused for good (operators)",
        responses=problem_responses(401, 403),
    )
    async def refunds_refused(caller: Operator) -> list[RefusedRefund]:
        """Each waits for an operator: settle it with the platform, then ask again with
        `POST /dossiers/{code}/payment/refund`. The longest waiting first, at most 100."""
        return [
            RefusedRefund(
                dossier_code=payment.dossier_code,
                order_id=payment.order_id,
                amount_vnd=payment.amount_vnd,
                reason=payment.refund.reason,
                refused=payment.refund.refused or "",
                refused_at=payment.refund.refused_at,
            )
            for payment in await payments.refunds_refused()
            if payment.refund is not None and payment.refund.refused_at is not None
        ]

    @routes.post(
        "/dossiers/{code}/payment/refund",
        summary="Ask the platform again for a refund it refused (operators)",
        responses=problem_responses(
            401, 403, 404, described={409: "The payment's refund was not refused (nothing to ask again)"}
        ),
    )
    async def retry_refund(code: str, caller: Operator) -> PaymentView:
        """The payment goes back to `refund_pending`: the next refund round asks the platform again, with
        the same refund key (so a refund the platform made meanwhile is not made twice)."""
        try:
            payment = await payments.retry_refund(code)
        except (UnknownDossier, NothingOwed) as error:
            raise _not_found(code, error) from None
        except NoRefundDue as state:
            raise ProblemError(
                409, "No refused refund", f"{code}: the payment is {state}, not refund_refused"
            ) from None
        return PaymentView.model_validate(payment.view())

    return routes


def _not_found(code: str, error: Exception) -> ProblemError:
    if isinstance(error, NothingOwed):
        return ProblemError(404, NOTHING_OWED, f"dossier {code!r} owes no fees")
    return ProblemError(404, "Not found", f"no dossier {code!r}")

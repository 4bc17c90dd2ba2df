"""The payment platform's callback, verified before anything is read from it: its signature over the raw
body (signature.py, constant time), then its shape, then the merchant it is for. Which order and amount it
may name is the payment's to judge (Payment.settle)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dossierbus_intake.payments.domain.payment import Notice, NoticeStatus
from dossierbus_intake.payments.signature import verify


class BadCallback(Exception):
    """A callback refused before it touches any payment: `status`, `title`, `detail` and the field."""

    def __init__(
        self, status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []


class Callback(BaseModel):
    """What the platform says of an order (docs/payments.md)."""

    model_config = ConfigDict(extra="ignore")

    merchant_code: str = Field(min_length=1, max_length=64)
    order_id: str = Field(min_length=1, max_length=100)
    reference: str = Field(min_length=1, max_length=100, description="The platform's transaction reference")
    status: Literal["paid", "failed", "pending"]
    amount_vnd: int = Field(strict=True, gt=0)
    paid_at: datetime | None = None


def verified_notice(raw: bytes, signature: str | None, *, secret: bytes, merchant_code: str) -> Notice:
    """The callback as a Notice, once its signature, shape and merchant are right; BadCallback otherwise."""
    if not verify(secret, raw, signature):
        raise BadCallback(
            401,
            "Bad signature",
            "X-Payment-Signature is missing or is not the HMAC-SHA256 of the body with the merchant's secret",
        )
    try:
        callback = Callback.model_validate_json(raw)
    except ValidationError as error:
        errors = [
            {
                "field": ".".join(map(str, item["loc"])) or "body",
                "location": "body",
                "message": item["msg"],
                "type": item["type"],
            }
            for item in error.errors()
        ]
        raise BadCallback(
            422, "Invalid callback", "the callback's body is not a payment notice", errors
        ) from None
    if callback.merchant_code != merchant_code:
        raise BadCallback(
            422,
            "Another merchant",
            "the callback is for another merchant",
            [
                {
                    "field": "merchant_code",
                    "location": "body",
                    "message": "is not this merchant",
                    "type": "mismatch",
                }
            ],
        )
    return Notice(
        order_id=callback.order_id,
        status=NoticeStatus(callback.status),
        amount_vnd=callback.amount_vnd,
        reference=callback.reference,
        paid_at=callback.paid_at,
    )

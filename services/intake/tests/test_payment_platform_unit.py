"""The payment platform's side of the wire: callback signatures (what is signed, how it is compared), the
callback's checks before it touches a payment, the HTTP adapter's requests and its reading of answers, and
intake without a platform."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from dossierbus_intake.payments.callbacks import BadCallback, verified_notice
from dossierbus_intake.payments.domain.payment import NoticeStatus
from dossierbus_intake.payments.platform import HttpPaymentPlatform, OrderRequest, PlatformError
from dossierbus_intake.payments.signature import SIGNATURE_HEADER, sign, verify
from dossierbus_intake.payments.use_cases import OrderLinks, Payments, PaymentsOff
from dossierbus_intake.settings import IntakeSettings
from dossierbus_shared.auth import Caller, Role

SECRET = b"merchant-secret"
MERCHANT = "DOSSIERBUS"
BODY = {
    "merchant_code": MERCHANT,
    "order_id": "000.00.01.H26-261202-0007-P1",
    "reference": "PG-1",
    "status": "paid",
    "amount_vnd": 70000,
    "paid_at": "2026-12-02T09:02:00+00:00",
}


def raw(body: dict[str, Any] = BODY) -> bytes:
    return json.dumps(body).encode()


def test_the_signature_is_the_hmac_sha256_of_the_raw_body() -> None:
    body = raw()
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body) == expected
    assert verify(SECRET, body, expected)


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        sign(b"another secret", raw()),
        sign(SECRET, raw() + b" "),  # the same JSON, other bytes: the raw body is what is signed
        sign(SECRET, raw()).removeprefix("sha256="),
        sign(SECRET, raw()).upper(),
    ],
    ids=["missing", "empty", "other-secret", "other-bytes", "no-prefix", "upper-case"],
)
def test_anything_but_the_body_s_own_signature_is_refused(signature: str | None) -> None:
    assert not verify(SECRET, raw(), signature)
    with pytest.raises(BadCallback) as refused:
        verified_notice(raw(), signature, secret=SECRET, merchant_code=MERCHANT)
    assert refused.value.status == 401


def test_a_verified_callback_is_the_platform_s_notice() -> None:
    notice = verified_notice(raw(), sign(SECRET, raw()), secret=SECRET, merchant_code=MERCHANT)
    assert notice.order_id == BODY["order_id"]
    assert notice.status is NoticeStatus.PAID
    assert notice.amount_vnd == 70000 and notice.reference == "PG-1"
    assert notice.paid_at is not None and notice.paid_at.isoformat() == BODY["paid_at"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "status": "refunded?"}, "status"),
        ({**BODY, "amount_vnd": "70000"}, "amount_vnd"),
        ({**BODY, "amount_vnd": -1}, "amount_vnd"),
        ({key: value for key, value in BODY.items() if key != "order_id"}, "order_id"),
        ({**BODY, "merchant_code": "SOMEONE-ELSE"}, "merchant_code"),
    ],
)
def test_a_signed_callback_that_is_not_a_notice_for_this_merchant_is_refused(
    body: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadCallback) as refused:
        verified_notice(raw(body), sign(SECRET, raw(body)), secret=SECRET, merchant_code=MERCHANT)
    assert refused.value.status == 422
    assert [error["field"] for error in refused.value.errors] == [field]


def test_a_signed_body_that_is_not_json_is_refused() -> None:
    with pytest.raises(BadCallback) as refused:
        verified_notice(b"paid!", sign(SECRET, b"paid!"), secret=SECRET, merchant_code=MERCHANT)
    assert refused.value.status == 422


def platform(handler: Any) -> HttpPaymentPlatform:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return HttpPaymentPlatform("https://pay.example/api/v1/", MERCHANT, SECRET, client)


ORDER = OrderRequest("D-P1", 70000, "Le phi ho so D", "https://portal.example/D", "https://intake.example/cb")


async def test_create_sends_a_signed_order_and_reads_where_to_pay() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            201, json={"order_id": "D-P1", "reference": "PG-1", "payment_url": "https://pay.example/p"}
        )

    opened = await platform(answer).create(ORDER)
    assert (opened.order_id, opened.reference, opened.payment_url) == (
        "D-P1",
        "PG-1",
        "https://pay.example/p",
    )
    (request,) = seen
    assert request.method == "POST" and str(request.url) == "https://pay.example/api/v1/payments"
    assert request.headers["X-Merchant-Code"] == MERCHANT
    assert verify(SECRET, request.content, request.headers[SIGNATURE_HEADER])
    assert json.loads(request.content) == {
        "merchant_code": MERCHANT,
        "order_id": "D-P1",
        "amount_vnd": 70000,
        "description": "Le phi ho so D",
        "return_url": "https://portal.example/D",
        "callback_url": "https://intake.example/cb",
    }


async def test_query_reads_the_order_s_state() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET" and request.url.path == "/api/v1/payments/D-P1"
        body = {
            "order_id": "D-P1",
            "reference": "PG-1",
            "status": "failed",
            "amount_vnd": 70000,
            "paid_at": None,
        }
        return httpx.Response(200, json=body)

    notice = await platform(answer).query("D-P1")
    assert (notice.status, notice.amount_vnd, notice.paid_at) == (NoticeStatus.FAILED, 70000, None)


async def test_refund_sends_its_key_and_says_whether_it_is_done() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/payments/D-P1/refunds"
        assert verify(SECRET, request.content, request.headers[SIGNATURE_HEADER])
        assert json.loads(request.content)["refund_key"] == "RF-D-P1"
        return httpx.Response(200, json={"refund_reference": "RF-1", "status": "pending"})

    refund = await platform(answer).refund("D-P1", "RF-D-P1", 70000, "refused")
    assert (refund.reference, refund.done) == ("RF-1", False)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(503, json={"detail": "maintenance"}),
        httpx.Response(409, text="order used for another amount"),
        httpx.Response(200, json={"order_id": "D-P1"}),  # no payment URL
        httpx.Response(
            200, json={"order_id": "D-P2", "reference": "PG", "payment_url": "https://pay.example/p"}
        ),
        httpx.Response(200, text="<html>"),
    ],
    ids=["unavailable", "refused", "incomplete", "another-order", "not-json"],
)
async def test_an_answer_other_than_the_api_s_is_a_platform_error(response: httpx.Response) -> None:
    with pytest.raises(PlatformError):
        await platform(lambda _: response).create(ORDER)


@pytest.mark.parametrize(
    ("status", "for_good"),
    [
        *[(status, True) for status in (400, 404, 409, 422)],
        *[(status, False) for status in (None, 401, 403, 408, 425, 429, 500, 503)],
    ],
)
def test_only_a_refusal_of_the_request_itself_is_for_good(status: int | None, for_good: bool) -> None:
    assert PlatformError("answered", status).refused_for_good is for_good


async def test_no_answer_is_a_platform_error() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(PlatformError, match="no answer"):
        await platform(unreachable).query("D-P1")


def test_a_platform_url_without_what_goes_with_it_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="PAYMENT_MERCHANT_CODE, PAYMENT_CALLBACK_SECRET"):
        IntakeSettings(payment_platform_url="https://pay.example/api/v1", payment_callback_url="https://i/cb")
    configured = IntakeSettings(
        payment_platform_url="https://pay.example/api/v1",
        payment_merchant_code=MERCHANT,
        payment_callback_secret=SecretStr("s"),
        payment_callback_url="https://intake.example/payments/callback",
    )
    assert configured.payment_merchant_code == MERCHANT
    assert IntakeSettings(payment_platform_url="").payment_platform_url is None, "empty: payments off"


def no_units() -> Any:
    raise AssertionError("no transaction is opened without a platform")


async def test_without_a_platform_payments_cannot_be_opened_and_no_work_runs() -> None:
    payments = Payments(no_units, None, OrderLinks("https://i/cb", "https://portal/"))
    assert not payments.enabled
    with pytest.raises(PaymentsOff):
        await payments.open("000.00.01.H26-261202-0007", Caller(Role.PORTAL, "portal"))
    assert await payments.reconcile() == 0
    assert await payments.refund_due() == 0

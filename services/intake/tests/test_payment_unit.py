"""The payment aggregate: what routing asks is what is owed; the platform's notices in every order, twice,
late or wrong; refunds of dossiers refused before processing."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from dossierbus_intake.payments.domain.payment import (
    DossierClosed,
    NoRefundDue,
    NothingToOpen,
    Notice,
    NoticeStatus,
    NotThisOrder,
    Outcome,
    Payment,
    PaymentState,
    WrongAmount,
)
from dossierbus_shared.events import (
    DossierPaid,
    DossierPaymentRequested,
    DossierRefunded,
    DossierStatus,
    DossierStatusChanged,
    Fee,
)

CODE = "000.00.01.H26-261202-0007"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
FEES = [
    Fee(step="registration", agency_code="justice-hanoi", fee_vnd=50_000),
    Fee(step="certificate", agency_code="police-hanoi", fee_vnd=20_000),
]


def requested() -> Payment:
    return Payment.requested(
        DossierPaymentRequested(
            dossier_id=uuid.uuid4(),
            dossier_code=CODE,
            procedure_code="1.001193",
            amount_vnd=70_000,
            fees=FEES,
            requested_at=NOW,
        )
    )


def pending() -> Payment:
    payment = requested()
    payment.opened(payment.order_to_open(), "https://pay.example/p/1", NOW)
    return payment


def notice(status: NoticeStatus, *, order_id: str = f"{CODE}-P1", amount: int = 70_000) -> Notice:
    paid_at = NOW + timedelta(minutes=2) if status is NoticeStatus.PAID else None
    return Notice(order_id, status, amount, reference="PG-123", paid_at=paid_at)


def changed(status: DossierStatus, previous: DossierStatus, payment: Payment) -> DossierStatusChanged:
    return DossierStatusChanged(
        dossier_id=payment.dossier_id,
        dossier_code=payment.dossier_code,
        procedure_code=payment.procedure_code,
        previous_status=previous,
        status=status,
        due_date=date(2026, 12, 20),
        changed_at=NOW + timedelta(hours=1),
    )


PAID, FAILED, STILL_PENDING = NoticeStatus.PAID, NoticeStatus.FAILED, NoticeStatus.PENDING


def test_a_request_is_owed_as_routing_asked_it() -> None:
    payment = requested()
    view = payment.view()
    assert view["state"] == "awaiting_payment"
    assert view["amount_vnd"] == 70_000
    assert view["fees"] == [fee.model_dump(mode="json") for fee in FEES]
    assert view["pay_url"] is None and view["receipt"] is None and view["refund"] is None


def test_opening_makes_the_payment_pending_with_where_to_pay() -> None:
    payment = requested()
    order_id = payment.order_to_open()
    assert order_id == f"{CODE}-P1"
    assert payment.order_to_open() == order_id, "the same order until the platform created it"
    payment.opened(order_id, "https://pay.example/p/1", NOW)
    assert payment.state is PaymentState.PENDING
    assert payment.view()["pay_url"] == "https://pay.example/p/1"
    with pytest.raises(NothingToOpen):
        payment.order_to_open()


def test_paid_keeps_the_receipt_and_announces_it_once() -> None:
    payment = pending()
    assert payment.settle(notice(PAID), NOW) is Outcome.APPLIED
    assert payment.state is PaymentState.PAID
    assert payment.receipt is not None
    assert payment.receipt.number == f"BL-{CODE}"
    assert payment.receipt.fees == tuple(FEES)
    assert payment.receipt.issued_at == NOW
    (event,) = payment.events
    assert isinstance(event, DossierPaid)
    assert (event.amount_vnd, event.receipt_number, event.payment_reference) == (
        70_000,
        f"BL-{CODE}",
        "PG-123",
    )
    assert event.paid_at == NOW + timedelta(minutes=2)
    assert payment.view()["pay_url"] is None
    assert payment.settle(notice(PAID), NOW + timedelta(hours=1)) is Outcome.UNCHANGED, "a replay"
    assert len(payment.events) == 1
    assert payment.receipt.issued_at == NOW


@pytest.mark.parametrize(
    "notices",
    list(itertools.permutations([PAID, FAILED, STILL_PENDING, PAID])),
    ids=lambda notices: "-".join(n.value for n in notices),
)
def test_whatever_order_the_notices_come_in_a_paid_order_ends_paid_once(
    notices: tuple[NoticeStatus, ...],
) -> None:
    payment = pending()
    for status in notices:
        payment.settle(notice(status), NOW)
    assert payment.state is PaymentState.PAID
    assert [type(event) for event in payment.events] == [DossierPaid]


def test_a_failed_order_can_be_paid_again_under_a_new_order() -> None:
    payment = pending()
    assert payment.settle(notice(FAILED), NOW) is Outcome.APPLIED
    assert payment.state is PaymentState.AWAITING_PAYMENT
    assert payment.view()["pay_url"] is None
    assert payment.settle(notice(FAILED), NOW) is Outcome.UNCHANGED
    second = payment.order_to_open()
    assert second == f"{CODE}-P2"
    payment.opened(second, "https://pay.example/p/2", NOW)
    with pytest.raises(NotThisOrder):  # the first order is not open any more
        payment.settle(notice(PAID), NOW)
    assert payment.settle(notice(PAID, order_id=second), NOW) is Outcome.APPLIED


def test_another_amount_or_order_changes_nothing() -> None:
    payment = pending()
    with pytest.raises(WrongAmount):
        payment.settle(notice(PAID, amount=69_999), NOW)
    with pytest.raises(NotThisOrder):
        payment.settle(notice(PAID, order_id=f"{CODE}-P9"), NOW)
    with pytest.raises(NotThisOrder):
        requested().settle(notice(PAID), NOW)  # nothing opened yet
    assert payment.state is PaymentState.PENDING and payment.events == []


def test_opened_refuses_an_order_that_is_not_the_next() -> None:
    payment = requested()
    with pytest.raises(NotThisOrder):
        payment.opened(f"{CODE}-P7", "https://pay.example/p/7", NOW)
    assert payment.state is PaymentState.AWAITING_PAYMENT


@pytest.mark.parametrize("status", [DossierStatus.REJECTED, DossierStatus.WITHDRAWN])
@pytest.mark.parametrize("previous", [DossierStatus.RECEIVED, DossierStatus.ACCEPTED])
def test_a_paid_dossier_ended_before_processing_is_refunded(
    status: DossierStatus, previous: DossierStatus
) -> None:
    payment = pending()
    payment.settle(notice(PAID), NOW)
    payment.events.clear()
    assert payment.dossier_changed(changed(status, previous, payment)) is True
    assert payment.state is PaymentState.REFUND_PENDING
    assert payment.refund is not None and payment.refund.key == f"RF-{CODE}-P1"
    assert payment.view()["refund"] is None, "shown once done"
    assert payment.refunded("RF-9", NOW) is Outcome.APPLIED
    assert payment.refunded("RF-9", NOW) is Outcome.UNCHANGED
    (event,) = payment.events
    assert isinstance(event, DossierRefunded)
    assert (event.amount_vnd, event.receipt_number, event.refund_reference) == (70_000, f"BL-{CODE}", "RF-9")
    assert event.reason == f"dossier {status.value} before processing"
    assert payment.view()["refund"] == {
        "reference": "RF-9",
        "amount_vnd": 70_000,
        "reason": event.reason,
        "refunded_at": NOW.isoformat(),
    }
    receipt = payment.receipt_view()
    assert receipt is not None and receipt["refunded"] is True


def test_a_refund_the_platform_refused_waits_for_an_operator_then_is_asked_again() -> None:
    payment = pending()
    payment.settle(notice(PAID), NOW)
    payment.dossier_changed(changed(DossierStatus.REJECTED, DossierStatus.ACCEPTED, payment))
    with pytest.raises(NoRefundDue):
        payment.retry_refund()  # not refused: nothing to ask again

    later = NOW + timedelta(minutes=1)
    assert payment.refund_refused("the payment platform answered 409: order closed", later) is Outcome.APPLIED
    assert payment.state is PaymentState.REFUND_REFUSED
    assert payment.refund is not None
    assert (payment.refund.refused, payment.refund.refused_at) == (
        "the payment platform answered 409: order closed",
        later,
    )
    assert payment.refund_refused("again", later) is Outcome.UNCHANGED
    assert payment.view()["state"] == "refund_refused" and payment.view()["refund"] is None

    payment.retry_refund()
    assert payment.state is PaymentState.REFUND_PENDING
    assert payment.refund.key == f"RF-{CODE}-P1", "the same key: a refund made meanwhile is not made twice"
    assert payment.refunded("RF-7", later) is Outcome.APPLIED
    assert payment.refund_refused("too late", later) is Outcome.UNCHANGED
    assert payment.state is PaymentState.REFUNDED


@pytest.mark.parametrize(
    ("status", "previous"),
    [
        (DossierStatus.REJECTED, DossierStatus.PROCESSING),
        (DossierStatus.WITHDRAWN, DossierStatus.SUPPLEMENT_REQUESTED),
        (DossierStatus.RETURNED, DossierStatus.RESULT_READY),
        (DossierStatus.PROCESSING, DossierStatus.ACCEPTED),
    ],
)
def test_a_dossier_an_agency_worked_on_keeps_its_fees(status: DossierStatus, previous: DossierStatus) -> None:
    payment = pending()
    payment.settle(notice(PAID), NOW)
    assert payment.dossier_changed(changed(status, previous, payment)) is False
    assert payment.state is PaymentState.PAID
    with pytest.raises(NoRefundDue):
        payment.refunded("RF-9", NOW)


def test_an_unpaid_dossier_refused_is_closed_and_a_late_payment_goes_back() -> None:
    payment = pending()
    assert payment.dossier_changed(changed(DossierStatus.REJECTED, DossierStatus.ACCEPTED, payment)) is False
    assert payment.closed_reason == "dossier rejected before it was paid"
    payment.settle(notice(FAILED), NOW)
    with pytest.raises(DossierClosed):
        payment.order_to_open()
    assert payment.settle(notice(PAID), NOW) is Outcome.APPLIED  # the applicant paid the old page after all
    assert payment.state is PaymentState.REFUND_PENDING
    assert [type(event) for event in payment.events] == [DossierPaid]


def test_the_receipt_is_there_once_paid() -> None:
    payment = pending()
    assert payment.receipt_view() is None
    payment.settle(notice(PAID), NOW)
    receipt = payment.receipt_view()
    assert receipt is not None
    assert receipt["number"] == f"BL-{CODE}"
    assert receipt["amount_vnd"] == 70_000
    assert receipt["fees"] == [fee.model_dump(mode="json") for fee in FEES]
    assert receipt["refunded"] is False
    assert payment.view()["receipt"] == {
        "number": f"BL-{CODE}",
        "amount_vnd": 70_000,
        "issued_at": NOW.isoformat(),
    }


def test_events_come_from_the_receiving_unit() -> None:
    assert requested().source == "urn:dossierbus:intake:000.00.01.H26"

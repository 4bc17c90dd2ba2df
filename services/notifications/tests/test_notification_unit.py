"""A notification's delivery in memory (attempts, backoff, dead letter, re-queue), a dossier's
correspondence (the recipient learned, what awaited it) and who is told what."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from dossierbus_notifications.domain.correspondence import Correspondence
from dossierbus_notifications.domain.notification import (
    AWAITING_RECIPIENT,
    DEAD,
    DELIVERED,
    PENDING,
    SENDING,
    UNDELIVERABLE,
    NotDead,
    Notification,
    RetryPolicy,
)
from dossierbus_notifications.domain.notifying import Notifier
from dossierbus_notifications.domain.recipient import Recipient
from dossierbus_notifications.messages import Templates
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import Applicant, Channel, DossierStatus, DossierStatusChanged, DossierSubmitted

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, backoff_s=1.0)
CODE = "000.00.01.H26-261126-0001"


def submitted(dossier_id: uuid.UUID, **applicant: object) -> Envelope[DossierSubmitted]:
    person = {"personal_id": "001085123456", "full_name": "Nguyễn Văn An", "date_of_birth": date(1985, 4, 12)}
    return Envelope(
        DossierSubmitted(
            dossier_id=dossier_id,
            dossier_code=CODE,
            procedure_code="1.001193",
            receiving_unit="000.00.01.H26",
            channel=Channel.ONLINE,
            applicant=Applicant.model_validate({**person, **applicant}),
            form={},
            submitted_at=NOW,
            due_date=date(2026, 11, 26),
        ),
        source="urn:dossierbus:intake:000.00.01.H26",
    )


def status_change(
    dossier_id: uuid.UUID, status: DossierStatus = DossierStatus.ACCEPTED
) -> Envelope[DossierStatusChanged]:
    return Envelope(
        DossierStatusChanged(
            dossier_id=dossier_id,
            dossier_code=CODE,
            procedure_code="1.001193",
            previous_status=DossierStatus.RECEIVED,
            status=status,
            due_date=date(2026, 11, 26),
            changed_at=NOW,
        ),
        source="urn:dossierbus:routing",
    )


def email(address: str | None = "an@example.vn") -> Notification:
    return Notification.queued(status_change(uuid.uuid4()), "email", address, "Subject", "Body")


# --- delivery ------------------------------------------------------------------------------------------


def test_a_notification_without_an_address_is_undeliverable_and_says_why() -> None:
    assert (email().status, email().last_error) == (PENDING, None)
    nowhere = email(None)
    assert nowhere.status == UNDELIVERABLE
    assert nowhere.last_error == "the applicant gave no address for email"


def test_an_attempt_is_logged_as_under_way_then_delivered() -> None:
    notification = email()
    notification.begin_attempt(NOW, claimed_until=NOW + timedelta(minutes=1))
    assert notification.attempt is not None
    assert (notification.attempts, notification.attempt.number, notification.attempt.outcome) == (
        1,
        1,
        SENDING,
    )
    assert notification.next_attempt_at == NOW + timedelta(minutes=1)
    assert notification.outgoing().attempt == 1

    notification.delivered(NOW + timedelta(seconds=1), duration_ms=12)

    assert (notification.status, notification.delivered_at) == (DELIVERED, NOW + timedelta(seconds=1))
    assert (notification.attempt.outcome, notification.attempt.duration_ms) == ("delivered", 12)


def test_failures_back_off_exponentially_then_the_notification_is_dead() -> None:
    notification = email()
    waits = []
    for _ in range(3):
        notification.begin_attempt(NOW, NOW)
        notification.failed("HTTP 503", NOW, 5, POLICY, jitter=1.0)
        assert notification.attempt is not None and notification.attempt.error == "HTTP 503"
        waits.append(notification.next_attempt_at)

    assert waits[:2] == [NOW + timedelta(seconds=1), NOW + timedelta(seconds=2)]
    assert (notification.status, notification.last_error) == (DEAD, "HTTP 503")


def test_the_jitter_scales_the_wait() -> None:
    notification = email()
    notification.begin_attempt(NOW, NOW)
    notification.failed("timeout", NOW, 5, RetryPolicy(5, 2.0), jitter=0.5)
    assert notification.next_attempt_at == NOW + timedelta(seconds=1)


def test_a_requeued_notification_gets_a_fresh_set_of_tries() -> None:
    notification = email()
    for _ in range(3):
        notification.begin_attempt(NOW, NOW)
        notification.failed("refused", NOW, 5, POLICY, jitter=1.0)
    notification.requeue(NOW)
    assert (notification.status, notification.next_attempt_at) == (PENDING, NOW)

    notification.begin_attempt(NOW, NOW)
    notification.failed("refused", NOW, 5, POLICY, jitter=1.0)
    assert (notification.status, notification.attempts) == (PENDING, 4)


@pytest.mark.parametrize("status", [PENDING, DELIVERED, UNDELIVERABLE])
def test_only_a_dead_notification_is_requeued(status: str) -> None:
    notification = email()
    notification.status = status
    with pytest.raises(NotDead) as refused:
        notification.requeue(NOW)
    assert refused.value.status == status


def test_an_outcome_without_an_attempt_under_way_is_a_mistake() -> None:
    with pytest.raises(RuntimeError, match="no attempt under way"):
        email().delivered(NOW, 1)


# --- correspondence ------------------------------------------------------------------------------------


def test_what_awaited_the_recipient_in_memory_is_addressed_when_they_become_known() -> None:
    dossier = uuid.uuid4()
    correspondence = Correspondence(dossier)
    notifier = Notifier(Templates())
    correspondence.tell(notifier.notifications(status_change(dossier), correspondence.recipient))
    [waiting] = correspondence.queued
    assert (waiting.status, waiting.recipient) == (AWAITING_RECIPIENT, "")

    correspondence.learn(Recipient.of(submitted(dossier, email="an@example.vn").data))

    assert (waiting.status, waiting.recipient) == (PENDING, "an@example.vn")
    assert not correspondence.releases_awaiting  # nothing stored awaited them


def test_notifications_stored_awaiting_are_released_once_the_recipient_is_learned() -> None:
    dossier = uuid.uuid4()
    correspondence = Correspondence(dossier, awaiting=True)
    assert not correspondence.releases_awaiting
    correspondence.learn(Recipient.of(submitted(dossier).data))
    assert correspondence.releases_awaiting


def test_a_recipient_learned_before_is_kept() -> None:
    dossier = uuid.uuid4()
    first = Recipient.of(submitted(dossier, email="first@example.vn").data)
    correspondence = Correspondence(dossier, recipient=first)

    correspondence.learn(Recipient.of(submitted(dossier, email="second@example.vn").data))

    assert correspondence.recipient == first
    assert correspondence.learned is None


# --- who is told what ----------------------------------------------------------------------------------


def test_the_applicant_gets_an_sms_too_when_they_gave_a_phone_and_sms_is_on() -> None:
    dossier = uuid.uuid4()
    recipient = Recipient.of(submitted(dossier, email="an@example.vn", phone="+84912345678").data)

    told = Notifier(Templates(), sms=True).notifications(status_change(dossier), recipient)
    without_sms = Notifier(Templates()).notifications(status_change(dossier), recipient)

    assert [(n.channel, n.recipient) for n in told] == [("email", "an@example.vn"), ("sms", "+84912345678")]
    assert [n.channel for n in without_sms] == ["email"]
    assert len(told[1].body) < len(told[0].body)  # the template's short text


def test_a_status_without_a_template_tells_the_applicant_nothing() -> None:
    dossier = uuid.uuid4()
    processing = status_change(dossier, DossierStatus.PROCESSING)
    recipient = Recipient.of(submitted(dossier).data)
    assert Notifier(Templates()).notifications(processing, recipient) == []

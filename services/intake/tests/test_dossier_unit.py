"""The received dossier, in memory: its status from routing, when it ended, and its one rating."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from dossierbus_intake.domain.dossier import (
    AlreadyRated,
    Dossier,
    IdempotencyConflict,
    NotFinished,
)
from dossierbus_shared.events import DossierRated, DossierStatus, DossierStatusChanged

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def dossier(**changes: object) -> Dossier:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "code": "000.00.01.H48-261126-0007",
        "procedure_code": "1.001193",
        "channel": "online",
        "applicant_personal_id": "001085123456",
        "submitted_at": NOW,
        "due_date": date(2026, 11, 27),
        "request_fingerprint": "f" * 64,
        "tracking_secret_sha256": None,
        "status": "received",
    }
    return Dossier(**{**values, **changes})  # type: ignore[arg-type]


def changed(subject: Dossier, status: DossierStatus, at: datetime = NOW) -> DossierStatusChanged:
    return DossierStatusChanged(
        dossier_id=subject.id,
        dossier_code=subject.code,
        procedure_code=subject.procedure_code,
        previous_status=None,
        status=status,
        due_date=subject.due_date,
        changed_at=at,
    )


def test_the_latest_status_is_kept_and_the_first_final_one_ends_the_dossier() -> None:
    subject = dossier()
    subject.status_changed(changed(subject, DossierStatus.PROCESSING))
    assert (subject.status, subject.finished_at) == ("processing", None)

    subject.status_changed(changed(subject, DossierStatus.RETURNED, NOW + timedelta(days=1)))
    subject.status_changed(changed(subject, DossierStatus.WITHDRAWN, NOW + timedelta(days=2)))

    assert subject.status == "withdrawn"
    assert subject.finished_at == NOW + timedelta(days=1)


def test_a_dossier_in_processing_cannot_be_rated() -> None:
    subject = dossier()
    with pytest.raises(NotFinished):
        subject.rate(5, NOW)
    assert subject.rating is None
    assert subject.events == []


def test_a_finished_dossier_is_rated_once_and_says_so_in_an_event() -> None:
    subject = dossier(finished_at=NOW)

    rating, created = subject.rate(4, NOW + timedelta(hours=1))

    assert created
    assert (rating.dossier_code, rating.score, rating.rated_at) == (subject.code, 4, NOW + timedelta(hours=1))
    [event] = subject.events
    assert isinstance(event, DossierRated)
    assert (event.dossier_id, event.score, event.procedure_code) == (subject.id, 4, "1.001193")


def test_the_same_score_again_answers_the_first_rating_and_another_is_refused() -> None:
    subject = dossier(finished_at=NOW)
    first, _ = subject.rate(4, NOW)
    subject.events.clear()

    again, created = subject.rate(4, NOW + timedelta(hours=2))
    assert (again, created) == (first, False)
    assert subject.events == []
    with pytest.raises(AlreadyRated) as refused:
        subject.rate(2, NOW)
    assert refused.value.score == 4


def test_a_different_request_under_the_same_key_is_a_conflict() -> None:
    subject = dossier()
    subject.check_retry("f" * 64)
    with pytest.raises(IdempotencyConflict):
        subject.check_retry("e" * 64)


def test_events_come_from_the_unit_that_received_the_dossier() -> None:
    assert dossier().source == "urn:dossierbus:intake:000.00.01.H48"

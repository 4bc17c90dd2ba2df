"""What a citizen is told: which statuses produce a message, in Vietnamese and English."""

from __future__ import annotations

import pytest

from dossierbus_notifications.templates import Message, received, status_changed
from dossierbus_shared.events import DossierStatus as S

CODE = "000.00.01.H26-260302-0007"

TOLD = {
    S.ACCEPTED: ("đã được tiếp nhận", "has been accepted"),
    S.REJECTED: ("bị từ chối", "was not accepted"),
    S.SUPPLEMENT_REQUESTED: ("cần bổ sung giấy tờ", "needs additional documents"),
    S.RESULT_READY: ("đã có kết quả", "has its result ready"),
    S.RETURNED: ("đã được trả kết quả", "has been returned"),
}
SILENT = [S.RECEIVED, S.PROCESSING, S.TRANSFERRED, S.WITHDRAWN]


def test_expectation_covers_every_status() -> None:
    assert set(TOLD) | set(SILENT) == set(S)


@pytest.mark.parametrize("status", list(TOLD))
def test_status_produces_a_bilingual_message(status: S) -> None:
    message = status_changed(CODE, status, None)

    assert isinstance(message, Message)
    vietnamese, english = TOLD[status]
    for text in (message.subject, message.body):
        assert vietnamese in text
        assert english in text
    assert "Hồ sơ" in message.body
    assert "Your dossier" in message.body


@pytest.mark.parametrize("status", list(TOLD))
def test_dossier_code_is_in_the_subject_and_body(status: S) -> None:
    message = status_changed(CODE, status, None)

    assert message is not None
    assert message.subject.startswith(f"[{CODE}]")
    assert message.body.count(CODE) == 2  # once per language


@pytest.mark.parametrize("status", SILENT)
def test_internal_statuses_produce_no_message(status: S) -> None:
    assert status_changed(CODE, status, "note") is None


def test_note_is_included_when_given() -> None:
    message = status_changed(CODE, S.SUPPLEMENT_REQUESTED, "Bổ sung bản sao giấy chứng sinh")

    assert message is not None
    assert "Bổ sung bản sao giấy chứng sinh" in message.body
    assert "Bổ sung bản sao giấy chứng sinh" not in message.subject


def test_no_note_adds_nothing() -> None:
    with_empty = status_changed(CODE, S.ACCEPTED, "")
    without = status_changed(CODE, S.ACCEPTED, None)

    assert without is not None
    assert with_empty == without
    assert "None" not in without.body


def test_messages_differ_per_status() -> None:
    subjects = {status_changed(CODE, status, None).subject for status in TOLD}  # type: ignore[union-attr]

    assert len(subjects) == len(TOLD)


def test_receipt_message_is_bilingual_with_code_and_appointment() -> None:
    message = received(CODE, "2026-03-03")

    assert message.subject.startswith(f"[{CODE}]")
    assert "Giấy tiếp nhận hồ sơ" in message.subject
    assert "Receipt and appointment" in message.subject
    assert "Ngày hẹn trả kết quả: 2026-03-03" in message.body
    assert "Expected result date: 2026-03-03" in message.body
    assert message.body.count(CODE) == 2

"""What a citizen is told, from the template files: per event type and procedure, in two languages."""

from __future__ import annotations

from datetime import date
from typing import ClassVar
from uuid import uuid4

import pytest

from dossierbus_notifications.domain.notifying import template_key
from dossierbus_notifications.messages import Message, Templates
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import TYPE_PREFIX, DossierStatusChanged, Event
from dossierbus_shared.events import DossierStatus as S


class OverdueShaped(Event):
    """Shaped like the overdue event: it carries the status the dossier is in."""

    type: ClassVar[str] = TYPE_PREFIX + "dossier.overdue.v1"
    topic: ClassVar[str] = "dossier.overdue"
    status: S


CODE = "000.00.01.H26-260302-0007"
BIRTH, DEATH = "1.001193", "1.000656"

TOLD = {
    S.ACCEPTED: ("đã được tiếp nhận", "has been accepted"),
    S.REJECTED: ("bị từ chối", "was not accepted"),
    S.SUPPLEMENT_REQUESTED: ("cần bổ sung giấy tờ", "needs additional documents"),
    S.RESULT_READY: ("đã có kết quả", "has its result ready"),
    S.RETURNED: ("đã được trả kết quả", "has been returned"),
    S.WITHDRAWN: ("đã được rút", "has been withdrawn"),
}
SILENT = [S.RECEIVED, S.PROCESSING, S.TRANSFERRED]
templates = Templates()


def status_message(status: S, language: str | None = None, note: str | None = None) -> Message | None:
    return templates.render(
        f"dossier.status-changed.{status}",
        CODE,
        procedure_code=DEATH,
        language=language,
        values={"note": note},
    )


def test_expectation_covers_every_status() -> None:
    assert set(TOLD) | set(SILENT) == set(S)


@pytest.mark.parametrize("status", list(TOLD))
def test_without_a_preference_vietnamese_comes_first_and_english_below(status: S) -> None:
    message = status_message(status)

    assert message is not None
    vietnamese, english = TOLD[status]
    for text in (message.subject, message.body, message.sms):
        assert text.index("Hồ sơ" if text is not message.sms else "Ho so") < text.index("ossier")
    assert vietnamese in message.subject and english in message.subject
    assert message.body.index(vietnamese) < message.body.index(english)
    assert "Đăng ký khai tử" in message.body and "Death registration" in message.body


@pytest.mark.parametrize("status", list(TOLD))
def test_a_preferred_language_is_used_alone(status: S) -> None:
    vietnamese, english = TOLD[status]
    in_english = status_message(status, "en")
    in_vietnamese = status_message(status, "vi")

    assert in_english is not None and in_vietnamese is not None
    assert english in in_english.body and vietnamese not in in_english.body
    assert vietnamese in in_vietnamese.body and english not in in_vietnamese.body
    assert in_english.subject.startswith(f"[{CODE}] Your dossier")


@pytest.mark.parametrize("status", list(TOLD))
def test_dossier_code_is_in_the_subject_and_once_per_language_in_the_body(status: S) -> None:
    message = status_message(status)

    assert message is not None
    assert message.subject.startswith(f"[{CODE}]")
    assert message.body.count(CODE) == 2


@pytest.mark.parametrize("status", SILENT)
def test_internal_statuses_have_no_template_and_tell_nothing(status: S) -> None:
    assert status_message(status, note="note") is None


def test_note_goes_into_the_body_only() -> None:
    message = status_message(S.SUPPLEMENT_REQUESTED, note="Bổ sung bản sao giấy chứng sinh")

    assert message is not None
    assert "Bổ sung bản sao giấy chứng sinh" in message.body
    assert "Bổ sung bản sao giấy chứng sinh" not in message.subject


def test_an_empty_note_adds_nothing() -> None:
    assert status_message(S.ACCEPTED, note="") == status_message(S.ACCEPTED, note=None)
    message = status_message(S.ACCEPTED)
    assert message is not None and "None" not in message.body


def test_messages_differ_per_status() -> None:
    subjects = {status_message(status).subject for status in TOLD}  # type: ignore[union-attr]

    assert len(subjects) == len(TOLD)


def test_receipt_has_the_appointment_in_each_language_convention() -> None:
    message = templates.render(
        "dossier.submitted", CODE, procedure_code=BIRTH, language=None, values={"due_date": date(2026, 3, 3)}
    )

    assert message is not None
    assert message.subject == f"[{CODE}] Giấy tiếp nhận hồ sơ và hẹn trả kết quả / Receipt and appointment"
    assert "Ngày hẹn trả kết quả: 03/03/2026" in message.body
    assert "Expected result date: 2026-03-03" in message.body
    assert "Hen tra ket qua: 03/03/2026" in message.sms


def test_a_procedure_template_overrides_the_event_type_default() -> None:
    values = {"agency_code": "justice-hanoi", "note": None}
    birth = templates.render(
        "dossier.status-changed.result_ready", CODE, procedure_code=BIRTH, language=None, values=values
    )
    death = templates.render(
        "dossier.status-changed.result_ready", CODE, procedure_code=DEATH, language=None, values=values
    )

    assert birth is not None and death is not None
    assert "Giấy khai sinh đã có kết quả" in birth.subject
    assert "The birth certificate is ready" in birth.subject
    assert "Phòng Tư pháp" in birth.body  # the agency, by its name in each language
    assert "Civil status office" in birth.body
    assert "Hồ sơ đã có kết quả" in death.subject  # no override: the event type's template


def test_overdue_templates_are_keyed_by_event_type() -> None:
    message = templates.render(
        "dossier.overdue", CODE, procedure_code=BIRTH, language=None, values={"due_date": date(2026, 3, 3)}
    )

    assert message is not None
    assert message.subject == f"[{CODE}] Hồ sơ bị trễ hạn — xin lỗi / Your dossier is overdue — we apologise"
    assert "chưa được giải quyết đúng hẹn ngày 03/03/2026" in message.body
    assert "appointment date of 2026-03-03" in message.body


def test_template_key_strips_prefix_and_version_and_adds_the_status() -> None:
    changed = DossierStatusChanged(
        dossier_id=uuid4(),
        dossier_code=CODE,
        procedure_code=BIRTH,
        previous_status=S.PROCESSING,
        status=S.WITHDRAWN,
        due_date=date(2026, 3, 3),
        changed_at="2026-03-02T10:00:00+07:00",  # type: ignore[arg-type]
    )

    assert template_key(Envelope(changed, source="urn:test")) == "dossier.status-changed.withdrawn"


def test_template_key_of_other_events_ignores_a_status_they_carry() -> None:
    overdue = OverdueShaped(dossier_id=uuid4(), dossier_code=CODE, status=S.PROCESSING)

    assert template_key(Envelope(overdue, source="urn:test")) == "dossier.overdue"


@pytest.mark.parametrize("procedure_code", [BIRTH, DEATH])
def test_a_result_message_shows_https_result_links_and_never_another_kind(procedure_code: str) -> None:
    documents = [
        {"name": "Giấy khai sinh", "url": "https://tuphap.hanoi.gov.vn/kq/1.pdf"},
        {"name": "script", "url": "javascript:alert(document.cookie)"},
        {"name": "plain", "url": "http://tuphap.hanoi.gov.vn/kq/2.pdf"},
        {"name": "hidden", "url": " https://tuphap.hanoi.gov.vn/kq/3.pdf"},
    ]
    message = templates.render(
        f"dossier.status-changed.{S.RESULT_READY}",
        CODE,
        procedure_code=procedure_code,
        language=None,
        values={"note": None, "result_documents": documents},
    )

    assert message is not None
    assert message.body.count("https://tuphap.hanoi.gov.vn/kq/1.pdf") == 2  # in Vietnamese and English
    for refused in ("javascript:", "http://", "kq/3.pdf"):
        assert refused not in message.body

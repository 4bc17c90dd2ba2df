"""What a citizen is told, in Vietnamese and English, per event."""

from __future__ import annotations

from dataclasses import dataclass

from dossierbus_shared.events import DossierStatus


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


STATUS_TEXT: dict[DossierStatus, tuple[str, str]] = {
    DossierStatus.ACCEPTED: ("đã được tiếp nhận", "has been accepted"),
    DossierStatus.REJECTED: ("không được tiếp nhận hoặc bị từ chối", "was not accepted"),
    DossierStatus.SUPPLEMENT_REQUESTED: ("cần bổ sung giấy tờ", "needs additional documents"),
    DossierStatus.RESULT_READY: ("đã có kết quả", "has its result ready"),
    DossierStatus.RETURNED: ("đã được trả kết quả", "has been returned to you"),
}
"""Statuses the citizen is told about; the rest are internal steps."""


def received(dossier_code: str, appointment: str) -> Message:
    return Message(
        subject=f"[{dossier_code}] Giấy tiếp nhận hồ sơ và hẹn trả kết quả / Receipt and appointment",
        body=(
            f"Hồ sơ {dossier_code} đã được tiếp nhận. Ngày hẹn trả kết quả: {appointment}.\n"
            f"Your dossier {dossier_code} has been received. Expected result date: {appointment}.\n"
        ),
    )


def status_changed(dossier_code: str, status: DossierStatus, note: str | None) -> Message | None:
    if status not in STATUS_TEXT:
        return None
    vietnamese, english = STATUS_TEXT[status]
    details = f"\n{note}\n" if note else ""
    return Message(
        subject=f"[{dossier_code}] Hồ sơ {vietnamese} / Your dossier {english}",
        body=f"Hồ sơ {dossier_code} {vietnamese}.\nYour dossier {dossier_code} {english}.\n{details}",
    )

"""Pseudonyms for personal identifiers in free text: what is replaced and what is left alone."""

from __future__ import annotations

import pytest

from dossierbus_shared import privacy
from dossierbus_shared.privacy import is_personal_field, pseudonym, redact_text

PERSONAL_ID = "001090000001"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"citizen {PERSONAL_ID} not found", PERSONAL_ID),
        (f"/access-log/{PERSONAL_ID}", PERSONAL_ID),
        (f"unknown event type 'vn.gov.{PERSONAL_ID}'", PERSONAL_ID),
        (f"Key (personal_id)=({PERSONAL_ID}) already exists.", PERSONAL_ID),
        ("tax code '0101234567-001' not found", "0101234567-001"),
        ("tax code 0101234567001", "0101234567001"),
        ("enterprise 0101234567", "0101234567"),
        ("call 0912345678", "0912345678"),
        ("call +84912345678", "+84912345678"),
        ("send to lan.nguyen@example.vn failed", "lan.nguyen@example.vn"),
    ],
)
def test_personal_identifiers_are_replaced_by_their_pseudonym(text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert pseudonym(secret) in redacted


@pytest.mark.parametrize(
    "text",
    [
        "event 3f2a9c1e-1111-2222-3333-123456789012 ignored",  # a UUID whose last group is all digits
        "trace 38857aeace6029a5a122fbeedcd63a0c span 1234567890123456",
        "dossier 000.00.01.H26-261125-0001 due 2026-12-03T17:00:00+07:00",
        "dossier.submitted[3]@1234 took 0.123456789012 s at 1764121234.567",
    ],
)
def test_identifiers_of_the_bus_are_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_pseudonyms_are_keyed_by_the_pepper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privacy, "_pepper", b"a" * 32)
    first = pseudonym(PERSONAL_ID)
    assert first == pseudonym(PERSONAL_ID) and first.startswith("pii:") and len(first) == 20
    monkeypatch.setattr(privacy, "_pepper", b"b" * 32)
    assert pseudonym(PERSONAL_ID) != first


def test_fields_that_name_personal_data() -> None:
    assert is_personal_field("applicant.personal_id")
    assert is_personal_field("tax_code")
    assert not is_personal_field("dossier.code")
    assert not is_personal_field("messaging.kafka.message.key")

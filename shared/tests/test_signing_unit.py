"""Signed agency reports: a genuine report verifies; anything forged, altered or stale does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierbus_shared.signing import SIGNATURE_HEADER, BadSignature, sign, verify

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
VALUE = b'{"status": "processing"}'
HEADERS = {
    "ce_id": "6f1c2a4e-8d3b-4e6a-9a57-0c1d2e3f4a5b",
    "ce_source": "urn:agency:justice-hanoi",
    "ce_type": "vn.gov.dossierbus.dossier.status-reported.v1",
    "ce_subject": "000.00.01.H26-261125-0001",
    "ce_time": NOW.isoformat(),
}


def signed(headers: dict[str, str] = HEADERS, value: bytes = VALUE) -> dict[str, str]:
    return headers | {SIGNATURE_HEADER: sign(KEY, headers, value)}


def check(headers: dict[str, str], value: bytes = VALUE, key: Ed25519PrivateKey = KEY) -> None:
    verify(key.public_key(), headers, value, now=NOW + timedelta(seconds=2), max_age=timedelta(hours=1))


def test_a_genuine_report_verifies() -> None:
    check(signed())


@pytest.mark.parametrize("header", ["ce_id", "ce_source", "ce_type", "ce_subject", "ce_time"])
def test_changing_any_signed_header_breaks_the_signature(header: str) -> None:
    tampered = signed() | {header: HEADERS[header].replace("0", "1").replace("a", "b") + "x"}
    with pytest.raises(BadSignature):
        check(tampered)


def test_an_altered_body_is_refused() -> None:
    with pytest.raises(BadSignature, match="does not match"):
        check(signed(), value=b'{"status": "returned"}')


def test_another_agency_key_is_refused() -> None:
    with pytest.raises(BadSignature, match="does not match"):
        check(signed(), key=Ed25519PrivateKey.generate())


def test_unsigned_and_garbled_signatures_are_refused_with_why() -> None:
    with pytest.raises(BadSignature, match="not signed"):
        check(dict(HEADERS))
    with pytest.raises(BadSignature, match="not base64"):
        check(HEADERS | {SIGNATURE_HEADER: "***"})
    with pytest.raises(BadSignature, match="missing header ce_subject"):
        check({k: v for k, v in signed().items() if k != "ce_subject"})


def test_an_old_report_replayed_later_is_refused() -> None:
    old = HEADERS | {"ce_time": (NOW - timedelta(hours=2)).isoformat()}
    with pytest.raises(BadSignature, match="more than 1:00:00 ago"):
        check(signed(old))


def test_a_report_from_the_future_is_refused() -> None:
    future = HEADERS | {"ce_time": (NOW + timedelta(hours=1)).isoformat()}
    with pytest.raises(BadSignature, match="future"):
        check(signed(future))

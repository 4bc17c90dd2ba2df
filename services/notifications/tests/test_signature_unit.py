"""Webhook signatures: what a receiver checks."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from dossierbus_notifications.signature import InvalidSignature, signature_header, verify

SECRET = "s3cret-of-the-agency"
BODY = '{"id":"1","data":{"dossier_code":"000.00.01.H26-260302-0007","note":"Đã nhận"}}'.encode()
NOW = 1_780_000_000


def test_header_is_hmac_sha256_over_timestamp_dot_body() -> None:
    header = signature_header(SECRET, BODY, NOW)

    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert verify(SECRET, BODY, header, now=NOW) == NOW


@pytest.mark.parametrize(
    ("secret", "body", "reason"),
    [
        ("another-secret", BODY, "does not match"),
        (SECRET, BODY.replace("Đ".encode(), b"D"), "does not match"),
        (SECRET, BODY + b" ", "does not match"),
    ],
)
def test_another_secret_or_a_changed_body_is_refused(secret: str, body: bytes, reason: str) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        verify(secret, body, signature_header(SECRET, BODY, NOW), now=NOW)


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_timestamp_outside_the_tolerance_is_refused(age: int) -> None:
    header = signature_header(SECRET, BODY, NOW - age)

    with pytest.raises(InvalidSignature, match="tolerance"):
        verify(SECRET, BODY, header, tolerance_s=300, now=NOW)
    assert verify(SECRET, BODY, header, tolerance_s=abs(age), now=NOW) == NOW - age


def test_the_timestamp_cannot_be_swapped_for_a_fresh_one() -> None:
    digest = signature_header(SECRET, BODY, NOW - 3600).split("v1=")[1]

    with pytest.raises(InvalidSignature, match="does not match"):
        verify(SECRET, BODY, f"t={NOW},v1={digest}", now=NOW)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=abc,v1=00", f"t={NOW}", f"t={NOW},t={NOW},v1=00"])
def test_a_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(InvalidSignature):
        verify(SECRET, BODY, header, now=NOW)


def test_any_v1_entry_may_match() -> None:
    good = signature_header(SECRET, BODY, NOW).split("v1=")[1]

    assert verify(SECRET, BODY, f"t={NOW},v1={'0' * 64},v1={good}", now=NOW) == NOW

"""Signed agency reports: an agency signs each report with its Ed25519 key; the bus verifies it with the
public key in the registry's agency directory, and refuses forged, altered or stale reports.

What is signed (UTF-8, lines joined by "\\n"):

    dossierbus-report-signature-v1
    <ce_id>
    <ce_source>
    <ce_type>
    <ce_subject>
    <ce_time>
    <SHA-256 of the Kafka value, lower-case hex>

The signature travels base64-encoded in the `ce_signature` header (a CloudEvents extension attribute).
Signing the id and time with the body makes a report impossible to alter or to re-send as a new one;
the same report re-sent is a duplicate the inbox drops, and an old one is refused by its time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_HEADER = "ce_signature"
SCHEME = "dossierbus-report-signature-v1"
SIGNED_HEADERS = ("ce_id", "ce_source", "ce_type", "ce_subject", "ce_time")


class BadSignature(Exception):
    """The report is not signed, not signed by the agency it claims to come from, or too old."""


def signing_input(headers: Mapping[str, str], value: bytes) -> bytes:
    missing = [name for name in SIGNED_HEADERS if not headers.get(name)]
    if missing:
        raise BadSignature(f"cannot verify: missing header {', '.join(missing)}")
    lines = [SCHEME, *(headers[name] for name in SIGNED_HEADERS), hashlib.sha256(value).hexdigest()]
    return "\n".join(lines).encode()


def sign(private_key: Ed25519PrivateKey, headers: Mapping[str, str], value: bytes) -> str:
    return base64.b64encode(private_key.sign(signing_input(headers, value))).decode()


def load_private_key(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"an Ed25519 private key is required, not {type(key).__name__}")
    return key


def load_public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"an Ed25519 public key is required, not {type(key).__name__}")
    return key


def verify(
    public_key: Ed25519PublicKey,
    headers: Mapping[str, str],
    value: bytes,
    *,
    now: datetime,
    max_age: timedelta,
) -> None:
    """Return if the report is signed by this key and recent; raise BadSignature saying why not."""
    encoded = headers.get(SIGNATURE_HEADER)
    if not encoded:
        raise BadSignature(f"the report is not signed (no {SIGNATURE_HEADER} header)")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature(f"{SIGNATURE_HEADER} is not base64") from None
    try:
        public_key.verify(signature, signing_input(headers, value))
    except InvalidSignature:
        raise BadSignature(
            "the signature does not match the report and the agency's registered key"
        ) from None
    sent = datetime.fromisoformat(headers["ce_time"])
    if sent.tzinfo is None:
        raise BadSignature("ce_time has no time zone")
    if now - sent > max_age:
        raise BadSignature(f"the report was signed at {headers['ce_time']}, more than {max_age} ago")
    if sent - now > timedelta(minutes=5):
        raise BadSignature(f"the report is dated in the future ({headers['ce_time']})")

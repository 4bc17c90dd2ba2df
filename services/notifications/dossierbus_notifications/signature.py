"""Webhook signatures: HMAC-SHA256 over `<unix time>.<body>` with the agency's webhook secret, sent as
`X-Dossierbus-Signature: t=<unix time>,v1=<hex digest>` (the scheme Stripe and others use). The time is
inside the signed text, so a captured request cannot be replayed once it is older than the tolerance.
Standard library only, so a receiver can copy `verify`."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Dossierbus-Signature"
EVENT_ID_HEADER = "X-Dossierbus-Event-Id"
DEFAULT_TOLERANCE_S = 300


class InvalidSignature(ValueError):
    pass


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """The signed timestamp if `header` signs `body` with `secret` within the tolerance; else
    InvalidSignature. Any one `v1` entry may match, so a second signature can be added later."""
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    stamps = [value for key, value in parts if key.strip() == "t"]
    digests = [value.strip() for key, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not digests:
        raise InvalidSignature("expected t=<unix time>,v1=<hex>")
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        raise InvalidSignature(f"timestamp outside the {tolerance_s}s tolerance")
    expected = _digest(secret, body, timestamp)
    if not any(hmac.compare_digest(expected, digest) for digest in digests):
        raise InvalidSignature("signature does not match")
    return timestamp


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()

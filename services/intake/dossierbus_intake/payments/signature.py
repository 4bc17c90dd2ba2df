"""The payment platform's signature: HMAC-SHA256, keyed with PAYMENT_CALLBACK_SECRET, over the raw body
exactly as sent (its bytes, not a re-serialisation), in the `X-Payment-Signature` header as
`sha256=<64 lowercase hex digits>`. The platform signs its callbacks so; intake signs its requests to the
platform alike, so the platform knows them from the merchant (docs/payments.md)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Payment-Signature"
PREFIX = "sha256="


def sign(secret: bytes, body: bytes) -> str:
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, signature: str | None) -> bool:
    """Whether `signature` is the body's, compared in constant time."""
    if not signature:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), signature.strip().encode())

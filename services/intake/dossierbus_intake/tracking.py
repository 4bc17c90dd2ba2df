"""The receipt's tracking secret: dossier codes are sequential, so the code alone proves nothing. With
the code, the secret lets a citizen without eID follow her dossier. It is shown in the 202 answer (and
the same answer to a retry with the same Idempotency-Key) and in the receipt e-mail.

The secret is HMAC(TRACKING_SECRET_KEY, dossier id): a retry can be answered with it again, while the
database keeps only its SHA-256, so a copy of the database alone shows no secret. Checking compares
digests, so changing the key never locks out dossiers received before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import uuid

log = logging.getLogger(__name__)

TRACKING_SECRET_HEADER = "X-Tracking-Secret"


class TrackingSecrets:
    def __init__(self, key: str | None) -> None:
        if not key:
            log.warning(
                "TRACKING_SECRET_KEY is not set: a random key is used, so a retried submission answered "
                "after a restart shows no tracking secret it can check against (the e-mail still has it)"
            )
        self._key = (key or secrets.token_hex(32)).encode()

    def secret_of(self, dossier_id: uuid.UUID) -> str:
        mac = hmac.new(self._key, b"tracking:" + dossier_id.bytes, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:24]).decode()  # 192 bits, 32 characters

    def matches(self, dossier_id: uuid.UUID, digest: str | None) -> bool:
        """Whether this key still derives the dossier's secret (a replay may show it again)."""
        return digest is not None and hmac.compare_digest(tracking_digest(self.secret_of(dossier_id)), digest)


def tracking_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def tracking_secret_matches(presented: str | None, digest: str | None) -> bool:
    if not presented or not digest:
        return False
    return hmac.compare_digest(tracking_digest(presented), digest)

"""The citizen page's cookies: the session (her ID token, kept to call the services as her) and, while
she signs in, the sign-in's state (state, nonce, PKCE verifier).

Both are sealed with AES-256-GCM under CITIZEN_SESSION_KEY: the browser holds them but can neither read
the token inside (it names her personal ID) nor change a byte. Each kind has its own associated data, so
a sign-in cookie is never taken for a session. The session ends when the ID token expires: the services
would refuse it then anyway.

Cookies are HttpOnly (no script reads them), SameSite=Lax (another site's page cannot send them with a
POST or a subresource request; Lax rather than Strict so that a link from the citizen's e-mail, or the
return from the eID provider, finds her signed in), Secure except on plain http to a loopback address
(development), and scoped to the page's path. The page's only change, signing out, also needs the
session's CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

SESSION_COOKIE = "dossierbus_citizen"
SIGN_IN_COOKIE = "dossierbus_citizen_sign_in"
LANGUAGE_COOKIE = "dossierbus_citizen_lang"
SIGN_IN_MAX_AGE_S = 600
"""How long a sign-in may take at the eID provider."""
_NONCE_BYTES = 12


@dataclass(frozen=True)
class CitizenSession:
    id_token: str
    """What the services are called with: the citizen's own token, so they check what she may read."""
    personal_id: str
    expires_at: int
    """The ID token's `exp` (seconds since the epoch)."""
    session_id: str
    """Random: binds the CSRF token to this session."""

    def expired(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) >= self.expires_at


@dataclass(frozen=True)
class SignIn:
    """One sign-in under way: checked when the provider sends the citizen back."""

    state: str
    nonce: str
    code_verifier: str
    return_to: str
    """The page path to show once signed in."""
    expires_at: int


class SessionSeal:
    def __init__(self, key: str | None) -> None:
        if not key:
            log.warning(
                "CITIZEN_SESSION_KEY is not set: a random key is used, so citizens' sessions end when this "
                "process restarts and are not shared with other replicas"
            )
        material = key.encode() if key else secrets.token_bytes(32)
        # Whatever the setting's length, a 256-bit key; the CSRF MAC gets a key of its own.
        self._aead = AESGCM(hashlib.sha256(b"dossierbus-citizen-seal-v1:" + material).digest())
        self._mac_key = hashlib.sha256(b"dossierbus-citizen-csrf-v1:" + material).digest()

    def seal_session(self, session: CitizenSession) -> str:
        return self._seal(
            b"session",
            {
                "id_token": session.id_token,
                "personal_id": session.personal_id,
                "exp": session.expires_at,
                "sid": session.session_id,
            },
        )

    def open_session(self, value: str | None, now: float | None = None) -> CitizenSession | None:
        """The session in the cookie; None when there is none, it was tampered with or it expired."""
        fields = self._open(b"session", value)
        if fields is None:
            return None
        try:
            session = CitizenSession(
                id_token=str(fields["id_token"]),
                personal_id=str(fields["personal_id"]),
                expires_at=int(fields["exp"]),
                session_id=str(fields["sid"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return None if session.expired(now) else session

    def seal_sign_in(self, sign_in: SignIn) -> str:
        return self._seal(
            b"sign-in",
            {
                "state": sign_in.state,
                "nonce": sign_in.nonce,
                "verifier": sign_in.code_verifier,
                "return_to": sign_in.return_to,
                "exp": sign_in.expires_at,
            },
        )

    def open_sign_in(self, value: str | None, now: float | None = None) -> SignIn | None:
        fields = self._open(b"sign-in", value)
        if fields is None:
            return None
        try:
            sign_in = SignIn(
                state=str(fields["state"]),
                nonce=str(fields["nonce"]),
                code_verifier=str(fields["verifier"]),
                return_to=str(fields["return_to"]),
                expires_at=int(fields["exp"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return None if (now if now is not None else time.time()) >= sign_in.expires_at else sign_in

    def csrf_token(self, session: CitizenSession) -> str:
        return hmac.new(self._mac_key, f"csrf:{session.session_id}".encode(), hashlib.sha256).hexdigest()

    def csrf_matches(self, session: CitizenSession, given: str | None) -> bool:
        # As bytes: compare_digest refuses str that is not ASCII, and a form field may hold anything.
        return given is not None and hmac.compare_digest(given.encode(), self.csrf_token(session).encode())

    def _seal(self, kind: bytes, fields: dict[str, Any]) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, json.dumps(fields, separators=(",", ":")).encode(), kind)
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def _open(self, kind: bytes, value: str | None) -> dict[str, Any] | None:
        if not value or len(value) > 8192:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], kind)
            fields = json.loads(plain)
        except (ValueError, InvalidTag):  # binascii.Error and JSONDecodeError are ValueErrors
            return None
        return fields if isinstance(fields, dict) else None


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def masked_personal_id(personal_id: str) -> str:
    """Enough to recognise one's own ID on screen, not to read it over a shoulder."""
    return "•" * max(len(personal_id) - 4, 0) + personal_id[-4:]

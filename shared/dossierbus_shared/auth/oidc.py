"""Citizens' bearer tokens: OpenID Connect JWTs checked against the issuer's published keys.

The keys are found by discovery (`<issuer>/.well-known/openid-configuration` names `jwks_uri`), kept,
and fetched again when a token names a key id the copy does not have (the issuer rotated its keys), at
most once per `min_refresh_s` so that tokens with made-up key ids cannot make us hammer the issuer.
Only asymmetric algorithms are accepted: never `none`, never an HMAC whose secret would be a public key.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet
from joserfc.jws import extract_compact

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
PERSONAL_ID = re.compile(r"^[0-9]{12}$")


class InvalidToken(Exception):
    """The token is not one of the issuer's, or not valid now; the message says why (never the token)."""


class IssuerUnavailable(Exception):
    """The issuer's discovery document or keys cannot be read, and no copy is kept."""


@dataclass(frozen=True)
class Identity:
    personal_id: str
    claims: dict[str, Any]


class OidcVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        personal_id_claim: str = "sub",
        leeway_s: int = 30,
        min_refresh_s: float = 10.0,
        max_age_s: float = 3600.0,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.personal_id_claim = personal_id_claim
        self.leeway_s = leeway_s
        self.min_refresh_s = min_refresh_s
        self.max_age_s = max_age_s
        self.timeout_s = timeout_s
        self.transport = transport
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Identity:
        try:
            header = extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError) as error:
            raise InvalidToken(f"not a signed JWT: {type(error).__name__}") from None
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise InvalidToken(f"algorithm {str(algorithm)[:20]!r} is not accepted")
        kid = header.get("kid")
        keys = await self._keys_with(kid if isinstance(kid, str) else None)
        key = _key(keys, kid if isinstance(kid, str) else None)
        if key is None:
            raise InvalidToken("signed with a key the issuer does not publish")
        try:
            decoded = jwt.decode(token, key, algorithms=[algorithm])
            jwt.JWTClaimsRegistry(
                leeway=self.leeway_s,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
            ).validate(decoded.claims)
        except JoseError as error:
            raise InvalidToken(f"{type(error).__name__}: {error.description or error.error}") from None
        except ValueError as error:  # a key set without the named key, or a malformed payload
            raise InvalidToken(f"cannot verify: {type(error).__name__}") from None
        personal_id = decoded.claims.get(self.personal_id_claim)
        if not isinstance(personal_id, str) or not PERSONAL_ID.fullmatch(personal_id):
            raise InvalidToken(f"claim {self.personal_id_claim!r} is not a 12-digit personal ID")
        return Identity(personal_id, dict(decoded.claims))

    async def _keys_with(self, kid: str | None) -> KeySet:
        """The kept key set, fetched first when missing, stale, or without the token's key id."""
        keys = self._keys
        if keys is not None and not self._stale() and _has(keys, kid):
            return keys
        async with self._lock:
            keys = self._keys
            if keys is not None and not self._stale() and _has(keys, kid):
                return keys  # another request fetched them meanwhile
            if keys is not None and time.monotonic() - self._fetched_at < self.min_refresh_s:
                return keys  # fetched moments ago: an unknown kid is not the issuer's
            try:
                self._keys = keys = await self._fetch()
                self._fetched_at = time.monotonic()
            except (httpx.HTTPError, ValueError, KeyError, JoseError) as error:
                log.warning("OIDC: cannot read the keys of %s: %s", self.issuer, type(error).__name__)
                if self._keys is None:
                    raise IssuerUnavailable(f"cannot read the keys of {self.issuer}") from None
                return self._keys
            return keys

    def _stale(self) -> bool:
        return time.monotonic() - self._fetched_at > self.max_age_s

    async def _fetch(self) -> KeySet:
        async with httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport) as http:
            discovery = await http.get(f"{self.issuer}/.well-known/openid-configuration")
            discovery.raise_for_status()
            document = discovery.json()
            if str(document.get("issuer", "")).rstrip("/") != self.issuer:
                raise ValueError("the discovery document names another issuer")
            jwks = await http.get(str(document["jwks_uri"]))
            jwks.raise_for_status()
            # Only public keys count: a symmetric ("oct") key in a published set would be everyone's.
            public = [key for key in jwks.json()["keys"] if key.get("kty") in {"RSA", "EC", "OKP"}]
            return KeySet.import_key_set({"keys": public})


def _key(keys: KeySet, kid: str | None) -> Key | None:
    if kid is None:  # a token without a key id is accepted only from an issuer with one key
        return keys.keys[0] if len(keys.keys) == 1 else None
    return next((key for key in keys.keys if key.kid == kid), None)


def _has(keys: KeySet, kid: str | None) -> bool:
    return _key(keys, kid) is not None

"""Fixtures of intake's tests: an OpenID provider in memory (httpx MockTransport), which signs ID tokens
with its own RSA key and checks PKCE as a real provider does, for the citizen page's sign-in."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from dossierbus_shared.auth import OidcVerifier

ISSUER = "https://eid.example.vn"
AUDIENCE = "dossierbus"
PERSONAL_ID_CLAIM = "personal_id"


@dataclass
class Grant:
    personal_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None


@dataclass
class FakeProvider:
    """The provider's endpoints: discovery, keys, token; `authorize` stands for the citizen's consent."""

    key: RSAKey
    grants: dict[str, Grant] = field(default_factory=dict)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    token_status: int | None = None
    """Answer the token endpoint with this status instead (a refusal, an outage)."""
    nonce_override: str | None = None
    down: bool = False

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def verifier(self) -> OidcVerifier:
        return OidcVerifier(ISSUER, AUDIENCE, personal_id_claim=PERSONAL_ID_CLAIM, transport=self.transport())

    def authorize(self, authorization_url: str, personal_id: str) -> tuple[str, str]:
        """The citizen consents at the URL the page sent her to: the code and state it redirects with."""
        query = {name: values[0] for name, values in parse_qs(urlsplit(authorization_url).query).items()}
        assert query["response_type"] == "code" and query["client_id"] == AUDIENCE
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(
            personal_id, query["redirect_uri"], query.get("nonce"), query.get("code_challenge")
        )
        return code, query["state"]

    def id_token(self, personal_id: str, nonce: str | None, expires_in: int = 3600) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"citizen-{personal_id}",
            PERSONAL_ID_CLAIM: personal_id,
            "iat": now,
            "exp": now + expires_in,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("the provider is down", request=request)
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                },
            )
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        if path == "/token":
            return self._token(request)
        return httpx.Response(404)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {name: values[0] for name, values in parse_qs(request.content.decode()).items()}
        self.token_requests.append({**form, "authorization": request.headers.get("authorization")})
        if self.token_status is not None:
            return httpx.Response(self.token_status, json={"error": "server_error"})
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant.redirect_uri:
            return httpx.Response(400, json={"error": "invalid_grant"})
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if grant.code_challenge != challenge:  # PKCE (RFC 7636 4.6)
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "PKCE"})
        nonce = self.nonce_override if self.nonce_override is not None else grant.nonce
        return httpx.Response(
            200, json={"id_token": self.id_token(grant.personal_id, nonce), "token_type": "Bearer"}
        )


@pytest.fixture(scope="session")
def provider_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"kid": "eid-1"})
    return key


@pytest.fixture
def provider(provider_key: RSAKey) -> FakeProvider:
    return FakeProvider(provider_key)

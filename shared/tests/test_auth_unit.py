"""Citizens' JWTs verified with real keys, static tokens, agency digests, and the FastAPI dependencies."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey

from dossierbus_shared.auth import (
    Authenticator,
    Caller,
    InvalidToken,
    IssuerUnavailable,
    OidcVerifier,
    Role,
    StaticTokens,
    authenticated,
    token_digest,
)
from dossierbus_shared.http_errors import install_error_handlers

ISSUER = "https://eid.example.vn"
AUDIENCE = "dossierbus"
PERSONAL_ID = "001090000001"


@functools.cache
def rsa_key(kid: str, holder: str = "the issuer") -> RSAKey:
    """`holder`'s 2048-bit key with this kid, made once per run (each takes a tenth of a second to make);
    every holder's is another key."""
    return RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)


class Issuer:
    """An OpenID provider's discovery document and key set, served to the verifier over httpx."""

    def __init__(self) -> None:
        self.keys = [rsa_key("k1")]
        self.jwks_reads = 0
        self.up = True

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            return httpx.Response(503)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"})
        if request.url.path == "/jwks":
            self.jwks_reads += 1
            return httpx.Response(200, json={"keys": [key.as_dict(private=False) for key in self.keys]})
        return httpx.Response(404)

    def token(self, key: RSAKey | None = None, alg: str = "RS256", **overrides: Any) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": PERSONAL_ID, "iat": now, "exp": now + 300}
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)

    def verifier(self, **options: Any) -> OidcVerifier:
        return OidcVerifier(ISSUER, AUDIENCE, transport=httpx.MockTransport(self.handle), **options)


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


async def test_a_valid_token_names_the_citizen(issuer: Issuer) -> None:
    identity = await issuer.verifier().verify(issuer.token())
    assert identity.personal_id == PERSONAL_ID


async def test_the_personal_id_comes_from_the_configured_claim(issuer: Issuer) -> None:
    verifier = issuer.verifier(personal_id_claim="personal_id")
    token = issuer.token(sub="opaque-subject", personal_id="079201000123")
    assert (await verifier.verify(token)).personal_id == "079201000123"
    with pytest.raises(InvalidToken, match="personal_id"):
        await verifier.verify(issuer.token(sub="opaque-subject"))


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"exp": None}, "no expiry"),
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"iss": None}, "no issuer"),
        ({"aud": "another-relying-party"}, "wrong audience"),
        ({"sub": "not-a-personal-id"}, "not a personal ID"),
    ],
)
async def test_claims_are_checked(issuer: Issuer, claims: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidToken):
        await issuer.verifier().verify(issuer.token(**claims))


async def test_a_token_signed_by_another_key_with_the_issuers_kid_is_refused(issuer: Issuer) -> None:
    forger = rsa_key("k1", holder="a forger")
    assert forger.as_dict(private=False) != issuer.keys[0].as_dict(private=False)
    with pytest.raises(InvalidToken):
        await issuer.verifier().verify(issuer.token(key=forger))


def unsigned_parts(header: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": PERSONAL_ID, "exp": int(time.time()) + 300}
    return f"{part(header)}.{part(claims)}"


async def test_alg_none_is_refused(issuer: Issuer) -> None:
    unsigned = unsigned_parts({"alg": "none", "kid": "k1"}) + "."
    with pytest.raises(InvalidToken, match="algorithm"):
        await issuer.verifier().verify(unsigned)


async def test_hmac_keyed_with_the_issuers_public_key_is_refused(issuer: Issuer) -> None:
    # The classic confusion: HS256 with the published RSA key as the secret, made by hand since
    # joserfc itself refuses to build such a key.
    signing_input = unsigned_parts({"alg": "HS256", "kid": "k1"})
    secret = issuer.keys[0].as_pem(private=False)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(InvalidToken, match="algorithm"):
        await issuer.verifier().verify(token)


async def test_an_unknown_kid_fetches_the_keys_again_once(issuer: Issuer) -> None:
    verifier = issuer.verifier(min_refresh_s=0)
    await verifier.verify(issuer.token())
    assert issuer.jwks_reads == 1
    rotated = rsa_key("k2")
    issuer.keys.append(rotated)
    assert (await verifier.verify(issuer.token(key=rotated))).personal_id == PERSONAL_ID
    assert issuer.jwks_reads == 2
    await verifier.verify(issuer.token(key=rotated))
    assert issuer.jwks_reads == 2, "a known kid needs no fetch"


async def test_made_up_kids_do_not_hammer_the_issuer(issuer: Issuer) -> None:
    verifier = issuer.verifier(min_refresh_s=3600)
    await verifier.verify(issuer.token())
    stranger = rsa_key("made-up", holder="a stranger")
    for _ in range(5):
        with pytest.raises(InvalidToken):
            await verifier.verify(issuer.token(key=stranger))
    assert issuer.jwks_reads == 1


async def test_an_unreachable_issuer_is_told_apart_from_a_bad_token(issuer: Issuer) -> None:
    issuer.up = False
    with pytest.raises(IssuerUnavailable):
        await issuer.verifier().verify(issuer.token())


@pytest.mark.parametrize("garbage", ["", "a.b.c", "x" * 5000, "ey.ey.ey", "\u00e9.\u00e9.\u00e9"])
async def test_garbage_is_an_invalid_token(issuer: Issuer, garbage: str) -> None:
    with pytest.raises(InvalidToken):
        await issuer.verifier().verify(garbage)


def test_static_tokens_name_their_role_and_unset_roles_cannot_log_in() -> None:
    tokens = StaticTokens(
        {Role.PORTAL: "portal-secret", Role.OPERATOR: "operator-secret", Role.AUDITOR: None}
    )
    assert tokens.caller("portal-secret") == Caller(Role.PORTAL, "portal")
    assert tokens.caller("operator-secret") == Caller(Role.OPERATOR, "operator")
    assert tokens.caller("") is None
    assert tokens.caller("portal-secret ") is None


class Directory:
    def token_digests(self) -> dict[str, str]:
        return {token_digest("agency-api-token"): "justice-hanoi"}


def app_for(issuer: Issuer) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.state.authenticator = Authenticator(
        static=StaticTokens({Role.PORTAL: "portal-secret", Role.OPERATOR: "operator-secret"}),
        oidc=issuer.verifier(),
        agencies=Directory(),
    )

    @app.get("/operators-only")
    async def operators_only(caller: Annotated[Caller, authenticated(Role.OPERATOR)]) -> dict[str, str]:
        return {"role": caller.role, "subject": caller.subject}

    @app.get("/people")
    async def people(
        caller: Annotated[Caller, authenticated(Role.CITIZEN, Role.PORTAL, Role.AGENCY)],
    ) -> dict[str, str]:
        return {"role": caller.role, "subject": caller.subject}

    return TestClient(app)


def test_the_dependency_answers_401_403_or_the_caller(issuer: Issuer) -> None:
    client = app_for(issuer)

    def get(path: str, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        response: httpx.Response = client.get(path, headers=headers)
        return response

    assert get("/operators-only", None).status_code == 401
    assert get("/operators-only", "wrong").status_code == 401
    assert client.get("/operators-only", headers={"Authorization": "Basic b3A6b3A="}).status_code == 401
    refused = get("/operators-only", "portal-secret")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert get("/operators-only", "operator-secret").json() == {"role": "operator", "subject": "operator"}
    assert get("/people", issuer.token()).json() == {"role": "citizen", "subject": PERSONAL_ID}
    assert get("/people", "agency-api-token").json() == {"role": "agency", "subject": "justice-hanoi"}
    assert get("/people", issuer.token(exp=int(time.time()) - 3600)).status_code == 401

"""A real OpenID Connect provider on loopback, standing in for the national eID: the `oidc-provider-mock`
package (authlib underneath), run as a child process. It signs ID tokens with its own RSA key, publishes
it at its JWKS URL, and lets anyone log in as any subject: for development and tests only.

A citizen's token is obtained the way a relying party would, over HTTP: the citizen's claims are set,
the authorization form is posted for her subject (the consent click), and the code is exchanged at the
token endpoint for an ID token whose audience is the client id (OIDC_AUDIENCE)."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from dossierbus_devstack.parts import ChildProcess, StackError, claim_port, wait_until_answering

PERSONAL_ID_CLAIM = "personal_id"
"""The claim the local provider puts the personal ID in (OIDC_PERSONAL_ID_CLAIM of the services)."""
AUDIENCE = "dossierbus"
REDIRECT_URI = "http://127.0.0.1/signed-in"
"""Never visited: the code is read from the redirect's Location header."""


class LocalIdentityProvider:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
        self.process = ChildProcess("the OpenID provider", command, log)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout_s: float = 60) -> None:
        claim_port(self.port, "the OpenID provider")
        self.process.start()
        await wait_until_answering(self.process, f"{self.issuer}/.well-known/openid-configuration", timeout_s)

    def stop(self) -> None:
        self.process.stop()

    async def citizen_token(self, personal_id: str) -> str:
        return await citizen_token(self.issuer, personal_id)


def citizen_subject(personal_id: str) -> str:
    """The subject the local provider knows the citizen by: what to type on its sign-in page."""
    return f"citizen-{personal_id}"


async def register_citizen(issuer: str, personal_id: str) -> str:
    """Give the citizen her personal ID claim at the local provider (a citizen it has never seen gets no
    such claim, and the services would refuse her token); her subject, to sign in with in a browser."""
    subject = citizen_subject(personal_id)
    async with httpx.AsyncClient(base_url=issuer, timeout=10) as http:
        claims = await http.put(f"/users/{quote(subject)}", json={PERSONAL_ID_CLAIM: personal_id})
        _check(claims, "setting the citizen's claims")
    return subject


async def citizen_token(issuer: str, personal_id: str, *, audience: str = AUDIENCE) -> str:
    """An ID token for the citizen with this personal ID, by the authorization-code flow."""
    subject = await register_citizen(issuer, personal_id)
    async with httpx.AsyncClient(base_url=issuer, timeout=10) as http:
        state = secrets.token_urlsafe(8)
        consent = await http.post(
            "/oauth2/authorize",
            params={
                "client_id": audience,
                "redirect_uri": REDIRECT_URI,
                "response_type": "code",
                "scope": "openid",
                "state": state,
            },
            data={"sub": subject},
        )
        if consent.status_code != 302:
            raise StackError(f"the OpenID provider gave no authorization code ({consent.status_code})")
        query = parse_qs(urlsplit(consent.headers["location"]).query)
        if query.get("state") != [state] or "code" not in query:
            raise StackError(f"the OpenID provider redirected without a code: {sorted(query)}")
        exchanged = await http.post(
            "/oauth2/token",
            data={"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT_URI},
            auth=(audience, "any-secret"),  # the local provider accepts any client secret
        )
        _check(exchanged, "exchanging the code")
        token: str = exchanged.json()["id_token"]
        return token


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300:
        raise StackError(f"the OpenID provider refused {what}: {response.status_code} {response.text[:200]}")

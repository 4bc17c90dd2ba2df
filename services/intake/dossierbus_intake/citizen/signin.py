"""Signing a citizen in: the OpenID Connect authorization-code flow with PKCE (RFC 7636, S256) against
the national eID (OIDC_ISSUER), with OIDC_AUDIENCE as the client id.

The ID token the provider returns is checked exactly as the services check a citizen's bearer token (the
shared OidcVerifier: issuer, audience, expiry, the issuer's published keys, asymmetric algorithms only),
and also for the nonce this sign-in sent: a token issued for another sign-in is refused. That token is
what the page then calls routing, notifications and intake's own API with, so no service reads for the
citizen anything she could not read herself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from dossierbus_intake.citizen.session import SIGN_IN_MAX_AGE_S, CitizenSession, SignIn, new_session_id
from dossierbus_shared.auth import InvalidToken, IssuerUnavailable, OidcVerifier

log = logging.getLogger(__name__)

DISCOVERY_MAX_AGE_S = 3600.0


class SignInFailed(Exception):
    """The sign-in cannot complete; the message says why in words fit for the citizen (in English: the
    page shows it inside a translated sentence), never a token."""


class ProviderUnavailable(Exception):
    """The eID provider's discovery document or token endpoint cannot be reached."""


@dataclass(frozen=True)
class ProviderEndpoints:
    authorization: str
    token: str


class OidcSignIn:
    def __init__(
        self,
        verifier: OidcVerifier,
        *,
        client_id: str,
        client_secret: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.verifier = verifier
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout_s = timeout_s
        self.transport = transport
        self._endpoints: ProviderEndpoints | None = None
        self._fetched_at = float("-inf")

    def begin(self, return_to: str, now: float | None = None) -> SignIn:
        """A new sign-in: fresh state, nonce and PKCE verifier (256 bits each)."""
        return SignIn(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(32),
            return_to=return_to,
            expires_at=int(now if now is not None else time.time()) + SIGN_IN_MAX_AGE_S,
        )

    async def authorization_url(self, sign_in: SignIn, redirect_uri: str, language: str) -> str:
        endpoints = await self.endpoints()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid",
                "state": sign_in.state,
                "nonce": sign_in.nonce,
                "code_challenge": code_challenge(sign_in.code_verifier),
                "code_challenge_method": "S256",
                "ui_locales": language,
            }
        )
        separator = "&" if "?" in endpoints.authorization else "?"
        return f"{endpoints.authorization}{separator}{query}"

    async def complete(
        self, sign_in: SignIn, *, code: str | None, state: str | None, error: str | None, redirect_uri: str
    ) -> CitizenSession:
        """The session of the citizen the provider sent back; SignInFailed when the answer is not the one
        this sign-in waits for, ProviderUnavailable when the provider cannot be reached."""
        if state is None or not hmac.compare_digest(state.encode(), sign_in.state.encode()):
            raise SignInFailed("the answer of the eID provider is not for this sign-in")
        if error is not None:
            raise SignInFailed("the eID provider did not sign you in")
        if not code:
            raise SignInFailed("the eID provider sent no authorization code")
        endpoints = await self.endpoints()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": sign_in.code_verifier,
        }
        auth: httpx.BasicAuth | None = None
        if self.client_secret:
            auth = httpx.BasicAuth(self.client_id, self.client_secret)  # client_secret_basic
        else:
            form["client_id"] = self.client_id  # a public client: PKCE is its proof
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport, auth=auth) as http:
                answer = await http.post(endpoints.token, data=form)
        except httpx.HTTPError as failure:
            log.warning("citizen sign-in: the token endpoint did not answer: %s", type(failure).__name__)
            raise ProviderUnavailable("the token endpoint did not answer") from None
        if answer.status_code >= 500:
            raise ProviderUnavailable(f"the token endpoint answered {answer.status_code}")
        if answer.status_code != 200:
            log.info("citizen sign-in: the token endpoint refused the code (%s)", answer.status_code)
            raise SignInFailed("the eID provider refused the sign-in")
        try:
            id_token = answer.json()["id_token"]
        except (ValueError, KeyError, TypeError):
            raise SignInFailed("the eID provider sent no ID token") from None
        if not isinstance(id_token, str):
            raise SignInFailed("the eID provider sent no ID token")
        try:
            identity = await self.verifier.verify(id_token)
        except InvalidToken as invalid:
            log.info("citizen sign-in: ID token refused: %s", invalid)
            raise SignInFailed("the eID provider's token is not valid") from None
        except IssuerUnavailable:
            raise ProviderUnavailable("the issuer's keys cannot be read") from None
        nonce = identity.claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), sign_in.nonce.encode()):
            raise SignInFailed("the eID provider's token is not for this sign-in")
        expires = identity.claims.get("exp")
        if not isinstance(expires, int):
            raise SignInFailed("the eID provider's token has no expiry")
        return CitizenSession(
            id_token=id_token,
            personal_id=identity.personal_id,
            expires_at=expires,
            session_id=new_session_id(),
        )

    async def endpoints(self) -> ProviderEndpoints:
        """The provider's authorization and token endpoints, by discovery, kept for an hour."""
        if self._endpoints is not None and time.monotonic() - self._fetched_at < DISCOVERY_MAX_AGE_S:
            return self._endpoints
        issuer = self.verifier.issuer
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport) as http:
                answer = await http.get(f"{issuer}/.well-known/openid-configuration")
                answer.raise_for_status()
                document = answer.json()
            if str(document.get("issuer", "")).rstrip("/") != issuer:
                raise ValueError("the discovery document names another issuer")
            endpoints = ProviderEndpoints(
                authorization=_https_or_loopback(document["authorization_endpoint"]),
                token=_https_or_loopback(document["token_endpoint"]),
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as failure:
            log.warning(
                "citizen sign-in: cannot read the discovery of %s: %s", issuer, type(failure).__name__
            )
            if self._endpoints is not None:
                return self._endpoints
            raise ProviderUnavailable(f"cannot read the discovery document of {issuer}") from None
        self._endpoints, self._fetched_at = endpoints, time.monotonic()
        return endpoints


def code_challenge(verifier: str) -> str:
    """PKCE S256: BASE64URL(SHA256(verifier)), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _https_or_loopback(url: object) -> str:
    """An endpoint the citizen's browser or intake may be sent to: https, or http on a loopback host (the
    development stack's provider). A discovery document naming anything else is refused."""
    if not isinstance(url, str):
        raise ValueError("an endpoint is not a string")
    if url.startswith("https://"):
        return url
    if url.startswith(("http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/")):
        return url
    raise ValueError("an endpoint is neither https nor on a loopback host")

"""Signing a citizen in by the authorization-code flow with PKCE, against an OpenID provider in memory
(conftest.FakeProvider, which checks the PKCE verifier as a real one does)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dossierbus_intake.citizen.signin import OidcSignIn, ProviderUnavailable, SignInFailed, code_challenge

REDIRECT = "https://dichvucong.example.gov.vn/citizen/callback"
PERSONAL_ID = "001085123456"


def sign_in(provider: Any, *, client_secret: str | None = None) -> OidcSignIn:
    return OidcSignIn(
        provider.verifier(),
        client_id="dossierbus",
        client_secret=client_secret,
        transport=provider.transport(),
    )


def test_the_pkce_challenge_is_rfc_7636s() -> None:
    # RFC 7636, appendix B.
    assert (
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


async def test_the_provider_is_asked_for_a_code_with_state_nonce_and_s256_challenge(provider: Any) -> None:
    signing = sign_in(provider)
    started = signing.begin("/citizen")
    url = await signing.authorization_url(started, REDIRECT, "vi")
    assert url.startswith("https://eid.example.vn/authorize?")
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    assert query == {
        "response_type": "code",
        "client_id": "dossierbus",
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": started.state,
        "nonce": started.nonce,
        "code_challenge": code_challenge(started.code_verifier),
        "code_challenge_method": "S256",
        "ui_locales": "vi",
    }
    assert len({started.state, started.nonce, started.code_verifier}) == 3


async def test_a_public_client_signs_in_with_pkce_alone(provider: Any) -> None:
    signing = sign_in(provider)
    started = signing.begin("/citizen/dossiers/X")
    code, state = provider.authorize(await signing.authorization_url(started, REDIRECT, "vi"), PERSONAL_ID)
    session = await signing.complete(started, code=code, state=state, error=None, redirect_uri=REDIRECT)
    assert session.personal_id == PERSONAL_ID
    assert session.id_token.count(".") == 2 and not session.expired()
    [request] = provider.token_requests
    assert request["code_verifier"] == started.code_verifier
    assert request["client_id"] == "dossierbus" and request["authorization"] is None


async def test_a_confidential_client_authenticates_with_its_secret(provider: Any) -> None:
    signing = sign_in(provider, client_secret="s3cret")
    started = signing.begin("/citizen")
    code, state = provider.authorize(await signing.authorization_url(started, REDIRECT, "en"), PERSONAL_ID)
    await signing.complete(started, code=code, state=state, error=None, redirect_uri=REDIRECT)
    [request] = provider.token_requests
    assert request["authorization"].startswith("Basic ") and "client_id" not in request


async def test_an_answer_for_another_sign_in_is_refused(provider: Any) -> None:
    signing = sign_in(provider)
    started, other = signing.begin("/citizen"), signing.begin("/citizen")
    code, _ = provider.authorize(await signing.authorization_url(other, REDIRECT, "vi"), PERSONAL_ID)
    with pytest.raises(SignInFailed, match="not for this sign-in"):
        await signing.complete(started, code=code, state=other.state, error=None, redirect_uri=REDIRECT)
    with pytest.raises(SignInFailed):
        await signing.complete(started, code=code, state=None, error=None, redirect_uri=REDIRECT)
    assert provider.token_requests == []  # refused before any code is spent


async def test_a_stolen_code_without_its_verifier_is_worth_nothing(provider: Any) -> None:
    signing = sign_in(provider)
    victims, attackers = signing.begin("/citizen"), signing.begin("/citizen")
    code, state = provider.authorize(await signing.authorization_url(victims, REDIRECT, "vi"), PERSONAL_ID)
    # The attacker's own sign-in, with the victim's code and state, sends the attacker's verifier.
    forged = type(attackers)(
        state, attackers.nonce, attackers.code_verifier, "/citizen", attackers.expires_at
    )
    with pytest.raises(SignInFailed, match="refused"):
        await signing.complete(forged, code=code, state=state, error=None, redirect_uri=REDIRECT)


async def test_a_token_with_another_nonce_is_refused(provider: Any) -> None:
    signing = sign_in(provider)
    started = signing.begin("/citizen")
    code, state = provider.authorize(await signing.authorization_url(started, REDIRECT, "vi"), PERSONAL_ID)
    provider.nonce_override = "a replayed token's nonce"
    with pytest.raises(SignInFailed, match="not for this sign-in"):
        await signing.complete(started, code=code, state=state, error=None, redirect_uri=REDIRECT)


async def test_a_denied_consent_or_a_refused_code_fails_the_sign_in(provider: Any) -> None:
    signing = sign_in(provider)
    started = signing.begin("/citizen")
    with pytest.raises(SignInFailed, match="did not sign you in"):
        await signing.complete(
            started, code=None, state=started.state, error="access_denied", redirect_uri=REDIRECT
        )
    with pytest.raises(SignInFailed, match="refused"):
        await signing.complete(
            started, code="made-up", state=started.state, error=None, redirect_uri=REDIRECT
        )


async def test_a_provider_that_fails_or_cannot_be_reached_is_told_apart(provider: Any) -> None:
    signing = sign_in(provider)
    started = signing.begin("/citizen")
    await signing.authorization_url(started, REDIRECT, "vi")  # discovery read and kept
    provider.token_status = 502
    with pytest.raises(ProviderUnavailable):
        await signing.complete(started, code="c", state=started.state, error=None, redirect_uri=REDIRECT)
    provider.down = True
    with pytest.raises(ProviderUnavailable):
        await signing.complete(started, code="c", state=started.state, error=None, redirect_uri=REDIRECT)
    with pytest.raises(ProviderUnavailable):
        await sign_in(provider).endpoints()  # nothing kept by a new client


async def test_endpoints_on_plain_http_elsewhere_than_loopback_are_refused(provider: Any) -> None:
    original = provider.handle

    def discovery(request: Any) -> Any:
        answer = original(request)
        if request.url.path == "/.well-known/openid-configuration":
            document = answer.json() | {"token_endpoint": "http://eid.example.vn/token"}
            return type(answer)(200, json=document)
        return answer

    provider.handle = discovery
    with pytest.raises(ProviderUnavailable):
        await sign_in(provider).endpoints()

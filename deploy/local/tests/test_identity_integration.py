"""The local OpenID provider issues citizens' tokens over HTTP that the services' verifier accepts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dossierbus_devstack.identity import AUDIENCE, PERSONAL_ID_CLAIM, LocalIdentityProvider
from dossierbus_devstack.parts import free_port
from dossierbus_shared.auth import InvalidToken, OidcVerifier


@pytest.fixture(scope="module")
async def provider(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalIdentityProvider]:
    log: Path = tmp_path_factory.mktemp("oidc") / "provider.log"
    started = LocalIdentityProvider(free_port(), log)
    await started.start()
    try:
        yield started
    finally:
        started.stop()


async def test_a_citizen_token_names_her_personal_id(provider: LocalIdentityProvider) -> None:
    verifier = OidcVerifier(provider.issuer, AUDIENCE, personal_id_claim=PERSONAL_ID_CLAIM)
    first = await verifier.verify(await provider.citizen_token("001090000001"))
    second = await verifier.verify(await provider.citizen_token("079201000123"))
    assert (first.personal_id, second.personal_id) == ("001090000001", "079201000123")


async def test_the_token_is_refused_by_another_audience(provider: LocalIdentityProvider) -> None:
    verifier = OidcVerifier(provider.issuer, "another-service", personal_id_claim=PERSONAL_ID_CLAIM)
    with pytest.raises(InvalidToken):
        await verifier.verify(await provider.citizen_token("001090000001"))

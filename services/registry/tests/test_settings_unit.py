"""An admin token set but empty leaves onboarding off; it never becomes an empty password."""

from __future__ import annotations

import pytest

from dossierbus_registry.settings import RegistrySettings


def test_an_admin_token_set_but_empty_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_ADMIN_TOKEN", "")
    assert RegistrySettings().registry_admin_token is None
    monkeypatch.setenv("REGISTRY_ADMIN_TOKEN", "an-operator-token-of-some-length")
    token = RegistrySettings().registry_admin_token
    assert token is not None and token.get_secret_value() == "an-operator-token-of-some-length"

"""Tokens set but empty leave their channel off (no webhooks, no SMS token) instead of sending ''."""

from __future__ import annotations

import pytest

from dossierbus_notifications.settings import NotificationsSettings


@pytest.mark.parametrize("variable", ["WEBHOOK_SECRETS_TOKEN", "SMS_GATEWAY_TOKEN"])
def test_a_token_set_but_empty_counts_as_unset(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "")
    assert getattr(NotificationsSettings(), variable.lower()) is None
    monkeypatch.setenv(variable, "a-token-of-some-length")
    assert getattr(NotificationsSettings(), variable.lower()).get_secret_value() == "a-token-of-some-length"

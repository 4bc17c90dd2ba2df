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


def test_off_the_dossiers_way_the_consumer_waits_longer_and_an_operator_may_say_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = NotificationsSettings()
    assert (settings.kafka_fetch_max_wait_ms, settings.consumer_linger_ms) == (500, 250)
    monkeypatch.setenv("KAFKA_FETCH_MAX_WAIT_MS", "100")
    assert NotificationsSettings().kafka_fetch_max_wait_ms == 100
    monkeypatch.setenv("KAFKA_FETCH_MAX_WAIT_MS", "0")
    with pytest.raises(ValueError, match="kafka_fetch_max_wait_ms"):
        NotificationsSettings()

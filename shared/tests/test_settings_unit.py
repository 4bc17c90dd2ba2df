"""Settings from the environment: a secret set but empty is absent, so it turns its feature off instead
of becoming an empty key or token (docker-compose.yml passes `${PII_PEPPER:-}`)."""

from __future__ import annotations

import pytest

from dossierbus_shared.settings import ServiceSettings


def test_a_pepper_set_but_empty_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PII_PEPPER", "")
    assert ServiceSettings().pii_pepper is None
    monkeypatch.setenv("PII_PEPPER", "a-real-secret-of-some-length")
    pepper = ServiceSettings().pii_pepper
    assert pepper is not None and pepper.get_secret_value() == "a-real-secret-of-some-length"


def test_topics_made_where_missing_have_the_partitions_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().kafka_topic_partitions == 6
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "2")
    assert ServiceSettings().kafka_topic_partitions == 2
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "0")
    with pytest.raises(ValueError, match="kafka_topic_partitions"):
        ServiceSettings()

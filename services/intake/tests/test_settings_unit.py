"""Intake is off a dossier's way to its agency: its consumer gathers more per fetch than the default."""

from __future__ import annotations

from dossierbus_intake.settings import IntakeSettings
from dossierbus_shared.settings import ServiceSettings


def test_intake_waits_longer_on_an_idle_fetch_than_a_service_on_the_dossiers_way() -> None:
    intake, on_the_way = IntakeSettings(), ServiceSettings()
    assert (intake.kafka_fetch_max_wait_ms, intake.consumer_linger_ms) == (500, 250)
    assert (on_the_way.kafka_fetch_max_wait_ms, on_the_way.consumer_linger_ms) == (100, 0)

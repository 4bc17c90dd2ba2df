"""The metrics mechanism without I/O: samplers, bounded label values, the exposition response."""

from __future__ import annotations

from prometheus_client import Gauge

from dossierbus_shared.events import DossierSubmitted
from dossierbus_shared.metrics import SAMPLE_FAILURES, Samplers, event_type_label, metrics_response

INDICATOR = Gauge("dossierbus_test_indicator", "Set by a sampler, as a 766 indicator is", ["unit"])


async def test_a_failing_sampler_is_counted_and_does_not_stop_the_others() -> None:
    samplers = Samplers(interval_s=60)

    async def broken() -> None:
        raise RuntimeError("database away")

    async def on_time_rate() -> None:
        INDICATOR.labels("000.00.01.H26").set(0.97)

    samplers.add(broken)
    samplers.add(on_time_rate)
    failures = SAMPLE_FAILURES.labels(broken.__qualname__)._value.get()
    await samplers.sample_once()
    assert SAMPLE_FAILURES.labels(broken.__qualname__)._value.get() == failures + 1
    assert INDICATOR.labels("000.00.01.H26")._value.get() == 0.97
    body = metrics_response().body
    assert b'dossierbus_test_indicator{unit="000.00.01.H26"} 0.97' in bytes(body)


def test_event_type_labels_come_from_the_catalogue_only() -> None:
    assert event_type_label(DossierSubmitted.type) == DossierSubmitted.type
    assert event_type_label("vn.gov.anything.a.sender.invents") == "unknown"
    assert event_type_label(None) == "unknown"

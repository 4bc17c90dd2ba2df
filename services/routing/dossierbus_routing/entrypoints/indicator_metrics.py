"""The Decision 766 indicators as Prometheus gauges `dossierbus_766_*{agency,procedure}`.

Prometheus collects synchronously, so the collector serves a snapshot of the projection that a background
task refreshes every few seconds; every replica reads the same projection and exposes the same values.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dossierbus_routing.adapters.indicators import counts
from dossierbus_routing.domain import Context
from dossierbus_routing.domain.indicators import Counts, report
from dossierbus_routing.unit_of_work import UnitOfWorkFactory
from dossierbus_shared.periodic import every

PREFIX = "dossierbus_766_"
LABELS = ["agency", "procedure"]
COUNTS = {
    "received": "Dossiers received",
    "processed": "Dossiers whose processing ended (result, refusal or withdrawal)",
    "on_time": "Dossiers processed early or on time",
    "late": "Dossiers processed late",
    "in_progress": "Dossiers still being processed",
    "overdue_in_progress": "Dossiers still being processed and past their appointment date",
    "online": "Dossiers submitted online",
    "with_result": "Dossiers that ended with a result",
    "digitised_results": "Dossiers whose result was issued as an electronic document",
}
RATES = {
    "on_time_rate": "Share of processed dossiers processed on time",
    "online_rate": "Share of received dossiers submitted online",
    "digitised_results_rate": "Share of results issued as electronic documents",
}


class IndicatorCollector(Collector):
    def __init__(self) -> None:
        self.snapshot: list[Counts] = []

    def collect(self) -> Iterator[Metric]:
        reports = [report(counts) for counts in self.snapshot]
        families = {
            name: GaugeMetricFamily(PREFIX + name, help_text, labels=LABELS)
            for name, help_text in (COUNTS | RATES).items()
        }
        satisfaction_average = GaugeMetricFamily(
            PREFIX + "satisfaction_average", "Average satisfaction rating (1 to 5)", labels=LABELS
        )
        satisfaction_count = GaugeMetricFamily(
            PREFIX + "satisfaction_count", "Satisfaction ratings received", labels=LABELS
        )
        points = GaugeMetricFamily(
            PREFIX + "score_points",
            "Points of a Decision 766 component measured by the bus",
            labels=[*LABELS, "indicator"],
        )
        for item in reports:
            labels = [item["agency_code"], item["procedure_code"]]
            for name, family in families.items():
                # A rate with nothing to measure is left out rather than reported as 0.
                if item[name] is not None:
                    family.add_metric(labels, item[name])
            satisfaction_count.add_metric(labels, item["satisfaction"]["count"])
            if item["satisfaction"]["average"] is not None:
                satisfaction_average.add_metric(labels, item["satisfaction"]["average"])
            for component in item["score"]["components"]:
                if component["points"] is not None:
                    points.add_metric([*labels, component["indicator"]], component["points"])
        yield from families.values()
        yield from (satisfaction_average, satisfaction_count, points)


class SnapshotRefresher:
    """Reloads the collector's snapshot from the projection, for the life of the service."""

    def __init__(
        self,
        collector: IndicatorCollector,
        unit_of_work: UnitOfWorkFactory,
        context: Context,
        *,
        interval_s: float,
    ) -> None:
        self.collector = collector
        self.unit_of_work = unit_of_work
        self.context = context
        self.interval_s = interval_s

    async def refresh(self) -> None:
        async with self.unit_of_work() as uow:
            self.collector.snapshot = await counts(
                uow.session, self.context.calendar, today=self.context.today()
            )

    async def run(self) -> None:
        # On failure the last snapshot is served until the next round.
        await every(self.interval_s, self.refresh, what="reloading the Decision 766 indicators")

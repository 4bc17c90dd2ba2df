"""The notifications service's metrics, served at /metrics with the bus's own (dossierbus_shared.metrics)."""

from prometheus_client import Counter

NOTIFICATION_FAILURES = Counter(
    "dossierbus_notification_failures",
    "Failed delivery attempts, by channel and outcome: retry (tried again later) or failed (given up)",
    ["channel", "outcome"],
)
for channel in ("email", "sms", "webhook"):  # present at zero, so that rate() and alerts see them
    for outcome in ("retry", "failed"):
        NOTIFICATION_FAILURES.labels(channel, outcome)

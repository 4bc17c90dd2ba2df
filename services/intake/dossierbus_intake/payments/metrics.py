"""Payments' own metrics (the shared ones cover HTTP, consuming and the outbox)."""

from __future__ import annotations

from prometheus_client import Counter

REFUNDS_REFUSED = Counter(
    "dossierbus_payment_refunds_refused",
    "Refunds the payment platform refused for good; each waits for an operator "
    "(GET /payments/refunds-refused)",
)

"""What the composition root installs for payments (see the package's docstring)."""

from __future__ import annotations

import httpx
from fastapi import APIRouter

from dossierbus_intake.payments.entrypoints import http
from dossierbus_intake.payments.platform import HttpPaymentPlatform
from dossierbus_intake.payments.use_cases import OrderLinks, Payments
from dossierbus_intake.settings import IntakeSettings
from dossierbus_intake.unit_of_work import UnitsOfWork
from dossierbus_shared.periodic import every
from dossierbus_shared.service import Service


def install(settings: IntakeSettings, service: Service, units: UnitsOfWork) -> APIRouter:
    """The payments use cases, their periodic work (reconciliation, refunds) when a platform is configured,
    and their routes."""
    secret = settings.payment_callback_secret
    secret_bytes = secret.get_secret_value().encode() if secret else None
    platform = None
    if settings.payment_platform_url and settings.payment_merchant_code and secret_bytes:
        client = httpx.AsyncClient(timeout=settings.payment_timeout_s)
        service.on_shutdown(client.aclose)
        platform = HttpPaymentPlatform(
            settings.payment_platform_url, settings.payment_merchant_code, secret_bytes, client
        )
    payments = Payments(
        units,
        platform,
        OrderLinks(callback_url=settings.payment_callback_url or "", return_url=settings.payment_return_url),
        reconcile_after_s=settings.payment_reconcile_after_s,
    )
    if platform is not None:
        interval = settings.payment_reconcile_interval_s

        async def reconcile() -> None:
            await every(interval, payments.reconcile, what="payment reconciliation")

        async def refund() -> None:
            await every(interval, payments.refund_due, what="refunds", first_after_s=interval / 2)

        service.background(reconcile)
        service.background(refund)
    return http.router(
        payments,
        callback_secret=secret_bytes if platform else None,
        merchant_code=settings.payment_merchant_code if platform else None,
    )

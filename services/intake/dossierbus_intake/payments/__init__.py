"""Fees and payment, intake's side (docs/payments.md): routing's `dossier.payment-requested` opens a
payment (domain/payment.py) that the applicant pays at the national payment platform (platform.py, over
HTTP); the platform's signed callback (signature.py), or a query when the callback is lost
(reconciliation.py), settles it, and `dossier.paid` goes back to routing in the same transaction (outbox).
A paid dossier refused or withdrawn before processing is refunded (`dossier.refunded`).

With PAYMENT_PLATFORM_URL unset, payments cannot be opened (503) and nothing else changes: requests are
still recorded, so a dossier can be paid once the platform is configured.
"""

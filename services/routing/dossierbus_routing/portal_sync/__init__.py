"""Status to the national public service portal (Cổng DVCQG): every status change of a dossier, mapped to
the portal's status code (changes.py), is staged in the transaction that makes it (store.py, through the
unit of work) and sent by a relay (relay.py) through the portal's sync API (client.py), retried,
idempotent and in order per dossier (decisions.py). Operators see what was sent and what failed
(http.py, metrics.py). docs/portal-sync.md tells the whole of it.

`install.PortalSync` is what the composition root installs: with PORTAL_SYNC_URL unset, sync is off,
nothing is staged and no relay runs.
"""

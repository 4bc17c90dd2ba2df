"""Authenticating agency reports: each must be signed with the key the agency registered with the
registry (see dossierbus_shared.signing). A forged, altered, replayed-as-new or stale report is refused.

The keys come from the agency directory. A key the directory does not have yet (an agency onboarded or
rotated a moment ago) makes the directory re-read the registry once before the report is refused; a
registry that cannot be reached is a transient error, so the report is retried rather than refused.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx

from dossierbus_shared.consumer import Unauthenticated
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierStatusReported
from dossierbus_shared.signing import BadSignature, load_public_key, verify

MAX_AGE = timedelta(hours=24)
"""A report signed longer ago than this is refused: an old report cannot be replayed."""


Refused = Callable[[Envelope[DossierStatusReported], str], Awaitable[None]]


class ReportAuthenticator:
    def __init__(
        self, directory: AgencyDirectory, *, refused: Refused | None = None, refresh_after_s: float = 1.0
    ) -> None:
        self.directory = directory
        self.refused = refused
        """Told of each refusal before it is dead-lettered (routing puts it on the dossier's timeline)."""
        self.refresh_after_s = refresh_after_s

    async def __call__(self, envelope: Envelope[DossierStatusReported]) -> None:
        """The consumer's authentication hook: raise Unauthenticated to refuse the report."""
        try:
            await self.check(envelope)
        except BadSignature as error:
            reason = f"unauthenticated report: {error}"
            if self.refused is not None:
                await self.refused(envelope, reason)
            raise Unauthenticated(reason) from None

    async def check(self, envelope: Envelope[DossierStatusReported]) -> None:
        """Return if the report is authentic; raise BadSignature saying why not."""
        try:
            self._check(envelope)
        except BadSignature:
            if not await self._refresh():
                raise
            self._check(envelope)

    def _check(self, envelope: Envelope[DossierStatusReported]) -> None:
        received = envelope.received
        if received is None:
            raise BadSignature("the report was not received from the broker")
        agency_code = envelope.data.agency_code
        agency = self.directory.agency(agency_code)
        if agency is None:
            raise BadSignature(f"agency {agency_code!r} is not an active agency in the directory")
        if not agency.public_key:
            raise BadSignature(f"agency {agency_code!r} has no registered public key")
        verify(
            load_public_key(agency.public_key),
            received.attributes,
            received.value,
            now=datetime.now(UTC),
            max_age=MAX_AGE,
        )

    async def _refresh(self) -> bool:
        """Re-read the directory unless it was read very recently; whether it was re-read."""
        last = self.directory.refreshed_at
        if last is not None and time.monotonic() - last < self.refresh_after_s:
            return False
        try:
            await self.directory.refresh()
        except (httpx.HTTPError, ValueError, KeyError) as error:
            raise RegistryUnavailable(f"cannot re-read the agency directory: {error}") from error
        return True


class RegistryUnavailable(Exception):
    """Transient: the report is retried (then dead-lettered, to be replayed), never refused for it."""

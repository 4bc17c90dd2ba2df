"""Authenticating agency reports: each must be signed with the key the agency registered with the
registry (see dossierbus_shared.signing). A forged, altered, replayed-as-new or stale report is refused.

The signer is the agency named in the report, and nothing else may name another one: `data.agency_code`
chooses the key, so `ce_source` must be `urn:agency:<that code>` and the record must have arrived on that
agency's own reports topic. Otherwise agency A could sign with its own key a report that claims to come
from agency B (in `ce_source`) or slip it into B's topic.

The keys come from the agency directory. A key the directory does not have yet (an agency onboarded or
rotated a moment ago) makes the directory re-read the registry once before the report is refused; a
registry that cannot be reached is a transient error, so the report is retried rather than refused.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx

from dossierbus_shared.consumer import Unauthenticated
from dossierbus_shared.directory import AgencyDirectory
from dossierbus_shared.envelope import Envelope
from dossierbus_shared.events import DossierExtensionRequested, DossierStatusReported
from dossierbus_shared.signing import BadSignature, load_public_key, verify

MAX_AGE = timedelta(hours=24)
"""A report signed longer ago than this is refused: an old report cannot be replayed."""


AgencyReport = Envelope[DossierStatusReported] | Envelope[DossierExtensionRequested]
"""What an agency sends on its reports topic: each signed, each authenticated the same way."""

Refused = Callable[[AgencyReport, str], Awaitable[None]]

_public_key = functools.lru_cache(maxsize=1024)(load_public_key)
"""An agency's key parsed once per PEM text (a rotated key is another text), not once per report."""


class ReportAuthenticator:
    def __init__(
        self, directory: AgencyDirectory, *, refused: Refused | None = None, refresh_after_s: float = 1.0
    ) -> None:
        self.directory = directory
        self.refused = refused
        """Told of each refusal before it is dead-lettered (routing puts it on the dossier's timeline)."""
        self.refresh_after_s = refresh_after_s

    async def __call__(self, envelope: AgencyReport) -> None:
        """The consumer's authentication hook: raise Unauthenticated to refuse the report."""
        try:
            await self.check(envelope)
        except BadSignature as error:
            reason = f"unauthenticated report: {error}"
            if self.refused is not None:
                await self.refused(envelope, reason)
            raise Unauthenticated(reason) from None

    async def check(self, envelope: AgencyReport) -> None:
        """Return if the report is authentic; raise BadSignature saying why not."""
        if envelope.received is None:
            raise BadSignature("the report was not received from the broker")
        # Who sent it is decided by the record alone: no directory refresh can change that answer.
        _check_sender(envelope.data.agency_code, envelope.source, envelope.received.topic)
        try:
            self._check(envelope)
        except BadSignature:
            if not await self._refresh():
                raise
            self._check(envelope)

    def _check(self, envelope: AgencyReport) -> None:
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
            _public_key(agency.public_key),
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


def agency_source(agency_code: str) -> str:
    """The `ce_source` of a report from this agency."""
    return f"urn:agency:{agency_code}"


def _check_sender(agency_code: str, source: str, topic: str | None) -> None:
    """The report's `ce_source` and topic name the same agency as its `agency_code` (whose key signs it)."""
    if source != agency_source(agency_code):
        raise BadSignature(
            f"ce_source {source!r} does not match agency_code {agency_code!r}"
            f" (expected {agency_source(agency_code)!r})"
        )
    expected_topic = DossierStatusReported.topic.format(agency_code=agency_code)
    if topic != expected_topic:
        raise BadSignature(
            f"a report of agency {agency_code!r} arrived on {topic!r}, not on its topic {expected_topic!r}"
        )


class RegistryUnavailable(Exception):
    """Transient: the report is retried (then dead-lettered, to be replayed), never refused for it."""

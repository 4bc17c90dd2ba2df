"""Judging what an agency reported, without I/O: each scenario's reports against the contract, and every
report's signature against the agency's registered key."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dossierbus_shared.contract.kit.cases import Case, Record
from dossierbus_shared.envelope import Envelope, MalformedEvent, header_map
from dossierbus_shared.events import DossierStatus, DossierStatusReported
from dossierbus_shared.signing import BadSignature, verify

S = DossierStatus
ENDINGS = frozenset({S.RESULT_READY, S.RETURNED, S.REJECTED, S.SUPPLEMENT_REQUESTED})
EXPECTED: dict[str, tuple[tuple[DossierStatus, ...], ...]] = {
    "happy path": ((S.PROCESSING, S.RESULT_READY), (S.PROCESSING, S.RESULT_READY, S.RETURNED)),
    "supplement": ((S.SUPPLEMENT_REQUESTED,), (S.PROCESSING, S.SUPPLEMENT_REQUESTED)),
    "rejection": ((S.REJECTED,), (S.PROCESSING, S.REJECTED)),
    "malformed input": ((S.PROCESSING, S.RESULT_READY), (S.PROCESSING, S.RESULT_READY, S.RETURNED)),
    "redelivery": ((S.PROCESSING, S.RESULT_READY), (S.PROCESSING, S.RESULT_READY, S.RETURNED)),
}
NOTE_REQUIRED = frozenset({S.SUPPLEMENT_REQUESTED, S.REJECTED})


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class KitReport:
    agency_code: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    def render(self) -> str:
        lines = [f"contract test kit, agency {self.agency_code}:"]
        for check in self.checks:
            lines.append(f"  {'PASS' if check.passed else 'FAIL'}  {check.name}")
            lines += [f"        {detail}" for detail in check.details]
        lines.append("all checks passed" if self.passed else "the agency does not meet the contract")
        return "\n".join(lines)


def settled(case: Case, now: float, settle_s: float) -> bool:
    """Done: the last report ends the scenario and nothing more came for `settle_s` (`now` and the case's
    `last_report_at` on one clock)."""
    if not case.reports or case.last_report_at is None:
        return False
    return status_of(case.reports[-1]) in ENDINGS and now - case.last_report_at >= settle_s


def status_of(record: Record) -> DossierStatus | None:
    with contextlib.suppress(MalformedEvent):
        data = Envelope.from_kafka(record.value, record.headers).data
        if isinstance(data, DossierStatusReported):
            return data.status
    return None


def judge(case: Case, agency_code: str, timeout_s: float) -> Check:
    """The scenario's check: its reports, each valid and about the assigned dossier and step, in an order
    the scenario allows."""
    problems: list[str] = []
    statuses: list[DossierStatus] = []
    seen_ids: set[str] = set()
    ids_by_status: dict[DossierStatus, set[str]] = {}
    assigned = case.envelope.data
    for record in case.reports:
        headers = header_map(record.headers)
        if headers.get("ce_id") in seen_ids:
            continue  # a repeated report (at-least-once delivery) is fine: the bus drops it
        seen_ids.add(headers.get("ce_id", ""))
        try:
            report = Envelope.from_kafka(record.value, record.headers)
        except MalformedEvent as error:
            problems.append(f"a report the bus would dead-letter: {error.reason}")
            continue
        data = report.data
        if not isinstance(data, DossierStatusReported):
            problems.append(f"unexpected event type {report.type} on the reports topic")
            continue
        expected = {
            "the Kafka key": ((record.key or b"").decode(errors="replace"), case.envelope.key),
            "ce_source": (report.source, f"urn:agency:{agency_code}"),
            "ce_subject": (headers.get("ce_subject"), assigned.dossier_code),
            "data.agency_code": (data.agency_code, agency_code),
            "data.dossier_id": (data.dossier_id, assigned.dossier_id),
            "data.dossier_code": (data.dossier_code, assigned.dossier_code),
            "data.step": (data.step, assigned.step),
        }
        problems += [
            f"{name} is {got!r}, expected {want!r}" for name, (got, want) in expected.items() if got != want
        ]
        trace = headers.get("traceparent", "")
        if trace.split("-")[1:2] != [case.trace_id]:
            problems.append(f"traceparent {trace!r} does not continue the assignment's trace {case.trace_id}")
        if data.status in NOTE_REQUIRED and not (data.note or "").strip():
            problems.append(f"{data.status.value} without a note telling the citizen why")
        ids_by_status.setdefault(data.status, set()).add(str(report.id))
        if case.scenario == "redelivery" and data.status in statuses:
            continue  # judged below, by its id
        statuses.append(data.status)
    for status, ids in ids_by_status.items():
        if len(ids) > 1 and case.scenario == "redelivery":
            problems.append(
                f"the redelivered assignment got {status.value} again with a new ce_id: the bus would take it"
                " for a new report; derive report ids from the assignment's ce_id, or store them"
            )
    if not statuses:
        problems.append(f"no valid report within {timeout_s:.0f} s")
    elif tuple(statuses) not in EXPECTED[case.scenario]:
        wanted = " or ".join(" → ".join(s.value for s in option) for option in EXPECTED[case.scenario])
        problems.append(f"reported {' → '.join(s.value for s in statuses)}; expected {wanted}")
    summary = f"dossier {assigned.dossier_code}: {' → '.join(s.value for s in statuses) or 'nothing'}"
    return Check(case.scenario, not problems, (summary, *problems))


def signatures(
    cases: Sequence[Case], public_key: Ed25519PublicKey, now: datetime, max_age: timedelta
) -> Check:
    """The signature check: every report of every case signed with the agency's key, and not older than
    `max_age` at `now`."""
    problems: list[str] = []
    count = 0
    for case in cases:
        for record in case.reports:
            count += 1
            headers = header_map(record.headers)
            try:
                verify(public_key, headers, record.value or b"", now=now, max_age=max_age)
            except (BadSignature, ValueError) as error:
                problems.append(f"report {headers.get('ce_id')} ({case.envelope.data.dossier_code}): {error}")
    if not count:
        problems.append("no report to check")
    return Check(
        "signature", not problems, (f"{count} reports checked against the registered key", *problems)
    )

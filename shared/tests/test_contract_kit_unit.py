"""The contract kit's judging without a broker: what each scenario accepts, each mistake an agency can make
named, the signature check, and when a scenario has settled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierbus_shared.contract.kit.cases import SCENARIOS, Case, cases, malformed_records
from dossierbus_shared.contract.kit.judging import judge, settled, signatures
from dossierbus_shared.envelope import Envelope, KafkaRecord, header_map
from dossierbus_shared.events import DossierStatus, DossierStatusReported
from dossierbus_shared.signing import sign

AGENCY = "justice-hue"
KEY = Ed25519PrivateKey.generate()
S = DossierStatus


def case(scenario: str) -> Case:
    [found] = [each for each in cases(AGENCY) if each.scenario == scenario]
    return found


def report(
    answered: Case,
    status: DossierStatus,
    *,
    note: str | None = None,
    key: bytes | None = None,
    trace_id: str | None = None,
    signed_by: Ed25519PrivateKey | None = KEY,
    at: datetime | None = None,
) -> KafkaRecord:
    """A report of the agency on the case's dossier, as a well-behaved agency sends it unless told."""
    assigned = answered.envelope.data
    at = at or datetime.now(UTC)
    data = DossierStatusReported(
        dossier_id=assigned.dossier_id,
        dossier_code=assigned.dossier_code,
        agency_code=AGENCY,
        step=assigned.step,
        status=status,
        note=note,
        reported_at=at,
    )
    record = Envelope(data, source=f"urn:agency:{AGENCY}", time=at).to_kafka()
    traceparent = f"00-{trace_id or answered.trace_id}-{'ab' * 8}-01"
    headers = [*record.headers, ("traceparent", traceparent.encode())]
    if signed_by is not None:
        signature = sign(signed_by, header_map(headers), record.value)
        headers.append(("ce_signature", signature.encode()))
    return KafkaRecord(record.topic, record.key if key is None else key, record.value, headers)


def answered(
    scenario: str,
    *statuses: DossierStatus,
    with_notes: bool = True,
    key: bytes | None = None,
    trace_id: str | None = None,
    signed_by: Ed25519PrivateKey | None = KEY,
    at: datetime | None = None,
) -> Case:
    """The scenario's case, answered with these statuses (each with a note, unless told otherwise)."""
    answering = case(scenario)
    note = "Thiếu giấy chứng sinh" if with_notes else None
    answering.reports = [
        report(answering, status, note=note, key=key, trace_id=trace_id, signed_by=signed_by, at=at)
        for status in statuses
    ]
    return answering


@pytest.mark.parametrize(
    ("scenario", "statuses"),
    [
        ("happy path", (S.PROCESSING, S.RESULT_READY)),
        ("happy path", (S.PROCESSING, S.RESULT_READY, S.RETURNED)),
        ("supplement", (S.SUPPLEMENT_REQUESTED,)),
        ("supplement", (S.PROCESSING, S.SUPPLEMENT_REQUESTED)),
        ("rejection", (S.PROCESSING, S.REJECTED)),
        ("malformed input", (S.PROCESSING, S.RESULT_READY, S.RETURNED)),
    ],
)
def test_each_scenario_accepts_the_orders_it_allows(
    scenario: str, statuses: tuple[DossierStatus, ...]
) -> None:
    check = judge(answered(scenario, *statuses), AGENCY, timeout_s=60)
    assert check.passed, check.details
    assert check.name == scenario
    assert check.details[0].endswith(" → ".join(status.value for status in statuses))


def test_another_order_is_refused_naming_what_was_expected() -> None:
    check = judge(answered("rejection", S.PROCESSING, S.RESULT_READY), AGENCY, timeout_s=60)
    assert not check.passed
    assert "reported processing → result_ready; expected rejected or processing → rejected" in check.details


def test_nothing_reported_fails_naming_the_timeout() -> None:
    check = judge(case("happy path"), AGENCY, timeout_s=45)
    assert not check.passed
    assert check.details[1:] == ("no valid report within 45 s",)


def test_a_rejection_or_supplement_needs_a_note() -> None:
    check = judge(answered("supplement", S.SUPPLEMENT_REQUESTED, with_notes=False), AGENCY, timeout_s=60)
    assert "supplement_requested without a note telling the citizen why" in check.details


def test_a_wrong_key_and_a_broken_trace_are_named() -> None:
    wrong = answered("happy path", S.PROCESSING, S.RESULT_READY, key=b"dossier", trace_id="0" * 32)
    details = judge(wrong, AGENCY, timeout_s=60).details
    assert f"the Kafka key is 'dossier', expected '{wrong.envelope.key}'" in details
    assert any("does not continue the assignment's trace" in detail for detail in details)


def test_a_report_the_bus_cannot_read_is_named() -> None:
    broken = case("happy path")
    broken.reports = [KafkaRecord("agency.justice-hue.reports", b"k", b"{not json", [])]
    details = judge(broken, AGENCY, timeout_s=60).details
    assert any(detail.startswith("a report the bus would dead-letter:") for detail in details)


def test_a_repeated_report_counts_once_but_a_redelivery_answered_with_new_ids_fails() -> None:
    redelivered = case("redelivery")
    first = [report(redelivered, status) for status in (S.PROCESSING, S.RESULT_READY)]
    redelivered.reports = [*first, *first]  # the same reports again: the bus drops the repeats
    assert judge(redelivered, AGENCY, timeout_s=60).passed

    redelivered.reports = [
        *first,
        *(report(redelivered, status) for status in (S.PROCESSING, S.RESULT_READY)),
    ]
    check = judge(redelivered, AGENCY, timeout_s=60)
    assert not check.passed
    assert any("got processing again with a new ce_id" in detail for detail in check.details)


def test_signatures_are_checked_against_the_registered_key() -> None:
    now = datetime.now(UTC)
    good = answered("happy path", S.PROCESSING, S.RESULT_READY)
    check = signatures([good], KEY.public_key(), now, timedelta(minutes=10))
    assert check.passed and check.details == ("2 reports checked against the registered key",)

    unsigned = answered("rejection", S.REJECTED, signed_by=None)
    other = answered("supplement", S.SUPPLEMENT_REQUESTED, signed_by=Ed25519PrivateKey.generate())
    stale = answered("redelivery", S.PROCESSING, at=now - timedelta(hours=1))
    check = signatures([good, unsigned, other, stale], KEY.public_key(), now, timedelta(minutes=10))
    assert not check.passed
    assert check.details[0] == "5 reports checked against the registered key"
    assert len(check.details) == 4, "one problem for each bad report"


def test_no_report_at_all_fails_the_signature_check() -> None:
    check = signatures(cases(AGENCY), KEY.public_key(), datetime.now(UTC), timedelta(minutes=10))
    assert not check.passed and "no report to check" in check.details


def test_a_scenario_settles_after_a_final_report_and_a_quiet_spell() -> None:
    waiting = answered("happy path", S.PROCESSING)
    waiting.last_report_at = 100.0
    assert not settled(waiting, now=200.0, settle_s=2), "processing does not end the scenario"
    ended = answered("happy path", S.PROCESSING, S.RESULT_READY)
    ended.last_report_at = 100.0
    assert not settled(ended, now=101.0, settle_s=2), "more may still come"
    assert settled(ended, now=102.0, settle_s=2)
    assert not settled(case("happy path"), now=200.0, settle_s=2), "nothing reported yet"


def test_the_kit_assigns_one_dossier_per_scenario_and_names_the_asked_outcome() -> None:
    sent = cases(AGENCY)
    assert [each.scenario for each in sent] == list(SCENARIOS)
    assert len({each.envelope.data.dossier_id for each in sent}) == len(SCENARIOS)
    forms = {each.scenario: each.envelope.data.form.get("contract_test") for each in sent}
    assert forms["supplement"] == f"[{AGENCY}: asks for a supplement]"
    assert forms["rejection"] == f"[{AGENCY}: rejects]"
    assert forms["happy path"] is None
    inbox = sent[0].inbox_record()
    assert header_map(inbox.headers)["traceparent"].split("-")[1] == sent[0].trace_id
    bad = malformed_records(inbox)
    assert {record.key for record in bad} == {inbox.key}, "on the dossier's partition, before it"
    assert len({header_map(record.headers).get("ce_id") for record in bad if record.headers}) == len(bad) - 1

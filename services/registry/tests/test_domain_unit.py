"""The registry's aggregates and decisions, without I/O: verifying a submission, a dossier's closing, the
changes to who holds which step, an access-log chain growing in memory, a consent's seal."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from dossierbus_registry.domain.access_log import GENESIS, Access, Chain, ChainKey, verify_chain
from dossierbus_registry.domain.assignments import Assignment, AssignmentChanges, Step
from dossierbus_registry.domain.consents import CITIZEN_EVIDENCE, CitizenAct, ConsentRecord
from dossierbus_registry.domain.dossiers import Dossier
from dossierbus_registry.domain.national import Enterprise
from dossierbus_registry.domain.verification import enterprise_to_read, verify_submission
from dossierbus_registry.synthetic import citizens
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import Applicant, DossierSubmitted

CATALOGUE = default_catalogue()
BIRTH, BUSINESS = CATALOGUE.procedure("1.001193"), CATALOGUE.procedure("2.001199")
NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)
KEY = ChainKey(b"k" * 32)
PERSON = next(citizens(1))
FIRM = Enterprise(
    "0100109106", "Công ty TNHH Sen Vàng", "Công ty TNHH", PERSON.personal_id, "Số 5, Ba Đình", "01",
    date(2019, 3, 1), "active",
)  # fmt: skip
BIRTH_FORM = {"child_full_name": "Nguyễn Minh Khang", "place_of_birth": "Bệnh viện Phụ sản Hà Nội"}


def submission(
    procedure_code: str = "1.001193", full_name: str | None = None, **form: Any
) -> DossierSubmitted:
    return DossierSubmitted(
        dossier_id=uuid.uuid4(),
        dossier_code="000.00.01.H26-261125-0001",
        procedure_code=procedure_code,
        receiving_unit="000.00.01.H26",
        channel="online",
        applicant=Applicant(
            personal_id=PERSON.personal_id,
            full_name=full_name or PERSON.full_name,
            date_of_birth=PERSON.date_of_birth,
        ),
        form=form or BIRTH_FORM,
        prefilled=["applicant.full_name"],
        submitted_at=NOW - timedelta(minutes=1),
        due_date=date(2026, 12, 30),
    )


def test_a_verified_applicant_gets_the_facts_the_procedure_needs_and_a_live_dossier() -> None:
    verification = verify_submission(submission(), BIRTH, PERSON, None, NOW)
    assert verification.verified.outcome == "verified"
    assert verification.verified.national_facts == {
        "full_name": PERSON.full_name,
        "date_of_birth": PERSON.date_of_birth.isoformat(),
        "permanent_address": PERSON.permanent_address,
    }
    assert verification.verified.verified_at == NOW
    dossier = verification.dossier
    assert dossier.live and dossier.personal_id == PERSON.personal_id and dossier.tax_code is None
    # Three facts delivered and the prefilled name; the date of birth and both form fields typed.
    assert (dossier.fields_from_national_data, dossier.fields_typed) == (4, 3)
    assert verification.access == Access(
        PERSON.personal_id,
        "registry",
        "1.001193",
        dossier.code,
        None,
        ["date_of_birth", "full_name", "permanent_address"],
        "granted",
        "verification of the applicant",
    )


def test_a_mismatching_applicant_is_rejected_with_no_facts_and_the_dossier_closed_at_once() -> None:
    verification = verify_submission(submission(full_name="Trần Thị Khác"), BIRTH, PERSON, None, NOW)
    assert verification.verified.outcome == "rejected"
    assert verification.verified.reasons == ["full_name differs from the national population database"]
    assert verification.verified.national_facts == {}
    assert verification.dossier.closed_at == NOW
    assert verification.access.outcome == "granted" and verification.access.fields == []


def test_an_applicant_not_found_is_a_refused_read() -> None:
    verification = verify_submission(submission(), BIRTH, None, None, NOW)
    assert verification.verified.reasons == ["personal_id not found in the national population database"]
    assert (verification.access.outcome, verification.access.reason) == ("refused", "not found")


def test_an_unknown_procedure_is_rejected() -> None:
    verification = verify_submission(submission("9.999999"), None, PERSON, None, NOW)
    assert verification.verified.reasons == ["unknown procedure '9.999999'"]


def test_a_business_procedure_reads_the_enterprise_of_its_form_and_delivers_its_facts() -> None:
    business = submission("2.001199", tax_code=" 0100109106 ", change="name", new_value="Sen Vàng Mới")
    assert enterprise_to_read(BUSINESS, business.form) == FIRM.tax_code
    verification = verify_submission(business, BUSINESS, PERSON, FIRM, NOW)
    assert verification.verified.outcome == "verified"
    assert verification.verified.national_facts["enterprise.legal_representative_id"] == PERSON.personal_id
    assert verification.dossier.tax_code == FIRM.tax_code
    assert not any(name.startswith("enterprise.") for name in verification.access.fields)


def test_an_enterprise_the_applicant_does_not_represent_or_a_malformed_tax_code_is_rejected() -> None:
    business = submission("2.001199", tax_code=FIRM.tax_code, change="name", new_value="X")
    stranger = verify_submission(business, BUSINESS, PERSON, replace(FIRM, legal_representative_id="0"), NOW)
    assert stranger.verified.reasons == ["the applicant is not the enterprise's legal representative"]
    malformed = submission("2.001199", tax_code="0100109107", change="name", new_value="X")
    assert enterprise_to_read(BUSINESS, malformed.form) is None  # not worth asking the database
    assert verify_submission(malformed, BUSINESS, PERSON, None, NOW).verified.outcome == "rejected"
    assert enterprise_to_read(BIRTH, BIRTH_FORM) is None


def test_a_dossier_closes_once() -> None:
    dossier = Dossier("D1", "1.001193", PERSON.personal_id, None, NOW)
    dossier.close(NOW + timedelta(days=1))
    dossier.close(NOW + timedelta(days=2))
    assert not dossier.live and dossier.closed_at == NOW + timedelta(days=1)


def assignment(dossier: str, agency: str = "justice-hanoi", at: datetime = NOW) -> Assignment:
    return Assignment(Step(dossier, agency, "birth-registration"), "1.001193", at)


def test_assignment_changes_keep_the_order_of_the_events() -> None:
    changes = AssignmentChanges()
    changes.assign(assignment("D1"))
    changes.assign(assignment("D1", at=NOW + timedelta(hours=1)))  # held already: the first time stays
    changes.assign(assignment("D2"))
    changes.cancel(assignment("D2").step)
    changes.cancel(assignment("D3").step)
    changes.assign(assignment("D3", at=NOW + timedelta(hours=2)))  # assigned again after its cancellation
    assert set(changes.assigned.values()) == {assignment("D1"), assignment("D3", at=NOW + timedelta(hours=2))}
    assert changes.cancelled == {assignment("D2").step, assignment("D3").step}

    changes.forget("D3")
    changes.assign(assignment("D3", "police-hanoi"))  # after the dossier ended: written after forgetting
    assert changes.forgotten == {"D3"}
    assert changes.cancelled == {assignment("D2").step}
    assert set(changes.assigned.values()) == {assignment("D1"), assignment("D3", "police-hanoi")}
    assert not AssignmentChanges()


def test_a_chain_grown_in_memory_is_the_chain_verify_accepts() -> None:
    chain = Chain(PERSON.personal_id)
    for seq in range(3):
        access = Access(PERSON.personal_id, "registry", "1.001193", f"D{seq}", None, ["full_name"], "granted")
        chain.append(access, NOW + timedelta(seconds=seq), KEY)
    rows = [
        {
            "subject": entry.access.subject,
            "seq": entry.seq,
            "at": entry.at,
            "agency_code": entry.access.agency_code,
            "procedure_code": entry.access.procedure_code,
            "dossier_code": entry.access.dossier_code,
            "consent_id": entry.access.consent_id,
            "fields": entry.access.fields,
            "outcome": entry.access.outcome,
            "reason": entry.access.reason,
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
            "key_id": entry.key_id,
        }
        for entry in chain.appended
    ]
    head = {"subject": chain.subject, "seq": chain.seq, "hash": chain.last_hash, "key_id": KEY.id}
    assert rows[0]["prev_hash"] == GENESIS and rows[2]["prev_hash"] == rows[1]["hash"]
    assert verify_chain(rows, head | {"mac": chain.head_mac(KEY)}, KEY).intact
    # A chain read back where it ended goes on from there.
    later = Chain(chain.subject, chain.seq, chain.last_hash)
    entry = later.append(Access(chain.subject, "registry", "1.001193", "D3", None, [], "refused"), NOW, KEY)
    assert (entry.seq, entry.prev_hash) == (4, chain.last_hash)
    with pytest.raises(ValueError, match="does not belong"):
        later.append(Access("someone-else", "registry", "1.001193", None, None, [], "refused"), NOW, KEY)


ACT = CitizenAct(
    PERSON.personal_id, "header.payload.signature", "https://vneid.example", "sub-1", 1, 2, "jti-1"
)


def given(expires_at: datetime | None = None) -> ConsentRecord:
    return ConsentRecord.given(
        ACT,
        KEY,
        procedure_code="2.001199",
        dossier_code=None,
        granted_via="portal",
        recorded_by="citizen via portal",
        expires_at=expires_at,
        now=NOW.replace(microsecond=123),
    )


def test_a_consent_given_by_the_citizen_is_sealed_and_covers_its_purpose() -> None:
    consent = given(expires_at=NOW + timedelta(days=30))
    evidence = consent.evidence_given()
    assert consent.evidence_kind == CITIZEN_EVIDENCE and evidence is not None
    assert evidence["personal_id"] == PERSON.personal_id and "token" not in evidence
    assert consent.granted_at == NOW  # whole seconds: read back exactly as sealed
    assert consent.sealed_by(KEY)
    purpose = consent.for_purpose(KEY)
    assert purpose.by_the_citizen
    assert purpose.problem(PERSON.personal_id, "2.001199", "D1", NOW + timedelta(days=1)) is None


def test_a_consent_changed_declared_or_sealed_under_another_key_covers_nothing() -> None:
    consent = given()
    assert not replace(consent, procedure_code="1.001193").sealed_by(KEY)
    assert not replace(consent, evidence_kind="declared").for_purpose(KEY).by_the_citizen
    assert not consent.sealed_by(ChainKey(b"x" * 32))
    forged = json.loads(consent.evidence) | {"seal": "0" * 64}
    assert not replace(consent, evidence=json.dumps(forged)).sealed_by(KEY)
    assert not replace(consent, evidence="not json").sealed_by(KEY)

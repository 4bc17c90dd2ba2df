"""What the kit sends an agency: one dossier per scenario, assigned on its inbox, and for one of them the
records an agency cannot use before it."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from dossierbus_shared.envelope import Envelope, KafkaRecord
from dossierbus_shared.events import Applicant, DossierAssigned, DossierStatusReported

SCENARIO_FIELD = "contract_test"
"""The form field in which the kit asks an agency for an outcome, as `[<agency code>: <behaviour>]` (the
convention the reference agency follows for demonstrations and tests)."""
SUPPLEMENT = "asks for a supplement"
REJECT = "rejects"
KIT_SOURCE = "urn:dossierbus:contract-kit"
KIT_STEP = "contract-test"
KIT_CODE_PREFIX = "KIT-"
SCENARIOS = ("happy path", "supplement", "rejection", "malformed input", "redelivery")


class Record(Protocol):
    """A Kafka record as read back from the reports topic (an aiokafka ConsumerRecord, a KafkaRecord)."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass
class Case:
    """One dossier the kit assigned, and the reports that came back for it."""

    scenario: str
    envelope: Envelope[DossierAssigned]
    trace_id: str
    reports: list[Record] = field(default_factory=list)
    last_report_at: float | None = None
    """When the last report came (time.monotonic)."""

    def inbox_record(self) -> KafkaRecord:
        """The assignment as it goes on the agency's inbox, in the case's own trace."""
        record = self.envelope.to_kafka()
        traceparent = f"00-{self.trace_id}-{secrets.token_hex(8)}-01"
        return KafkaRecord(
            record.topic, record.key, record.value, [*record.headers, ("traceparent", traceparent.encode())]
        )


def cases(agency_code: str) -> list[Case]:
    """A fresh dossier for each scenario, in the order of SCENARIOS."""
    forms = {
        "supplement": {SCENARIO_FIELD: f"[{agency_code}: {SUPPLEMENT}]"},
        "rejection": {SCENARIO_FIELD: f"[{agency_code}: {REJECT}]"},
    }
    return [
        Case(
            scenario,
            Envelope(assignment(agency_code, forms.get(scenario, {})), source=KIT_SOURCE),
            secrets.token_hex(16),
        )
        for scenario in SCENARIOS
    ]


def assignment(agency_code: str, form: dict[str, str], *, due: date | None = None) -> DossierAssigned:
    """A dossier step assigned to the agency, with a made-up applicant (no real personal data)."""
    dossier_id = uuid.uuid4()
    return DossierAssigned(
        dossier_id=dossier_id,
        dossier_code=f"{KIT_CODE_PREFIX}{datetime.now(UTC):%y%m%d}-{dossier_id.hex[:8].upper()}",
        agency_code=agency_code,
        procedure_code="contract-test",
        step=KIT_STEP,
        applicant=Applicant(
            personal_id="001090000001",
            full_name="Nguyễn Văn Kiểm Thử",
            date_of_birth=date(1990, 1, 1),
            email="kiem.thu@example.vn",
        ),
        form={"purpose": "contract test", **form},
        due_date=due or date.today() + timedelta(days=5),
        assigned_at=datetime.now(UTC),
    )


def answers_the_kit(report: DossierStatusReported) -> bool:
    """Whether a report answers one of the kit's made-up dossiers (no procedure has the kit's step).

    The bus reads every agency's reports topic, so it sees these too: it drops them instead of
    dead-lettering them as reports on an unknown dossier, and a kit run leaves its DLQ empty."""
    return report.step == KIT_STEP and report.dossier_code.startswith(KIT_CODE_PREFIX)


def malformed_records(inbox: KafkaRecord) -> list[KafkaRecord]:
    """Records an agency cannot use, on the same partition as (so before) the `inbox` record."""
    headers = dict(inbox.headers)

    def with_headers(**changes: bytes | None) -> list[tuple[str, bytes]]:
        changed = {**headers, **changes, "ce_id": str(uuid.uuid4()).encode()}
        return [(name, value) for name, value in changed.items() if value is not None]

    def variant(value: bytes, header_list: list[tuple[str, bytes]]) -> KafkaRecord:
        return KafkaRecord(inbox.topic, inbox.key, value, header_list)

    return [
        variant(b"{not json", with_headers()),
        variant(b'["a JSON array, not an object"]', with_headers()),
        variant(b'{"dossier_id": "' + inbox.key + b'"}', with_headers()),  # no dossier_code, no step
        variant(inbox.value, []),  # no CloudEvents headers at all
        variant(inbox.value, with_headers(ce_type=b"vn.gov.dossierbus.contract-test.unknown.v1")),
        variant(b"\xff\xfe not UTF-8", with_headers()),
    ]

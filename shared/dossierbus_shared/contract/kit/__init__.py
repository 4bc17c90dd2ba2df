"""The contract test kit: plays the bus against an agency system and checks what the agency reports.

    dossierbus-contract-kit --bootstrap HOST:PORT --agency CODE --public-key agency.pem

It publishes `dossier.assigned.v1` events on `agency.<code>.inbox` and reads `agency.<code>.reports`:

- happy path: an ordinary dossier gets `processing`, then `result_ready` (then `returned`, if the agency
  reports it), nothing else;
- supplement: a dossier whose form holds the text `[<code>: asks for a supplement]` gets `processing`
  (optional), then `supplement_requested` with a note telling the citizen what is missing, and nothing
  after it;
- rejection: a form with `[<code>: rejects]` gets `processing` (optional), then `rejected` with a note;
- malformed input: records the agency cannot use (not JSON, missing fields, no CloudEvents headers, an
  unknown event type) go first on a partition, then an ordinary dossier: the agency must skip them
  without reporting anything for them, and go on to handle the dossier behind them;
- redelivery: the same assignment delivered twice (same `ce_id`, as after a crash) is answered with the
  same report ids, so the bus drops the repeats (or is not answered twice at all);
- signature: every report carries a `ce_signature` that verifies with the agency's registered key.

Every report must also be a valid `dossier.status-reported.v1` CloudEvent for the dossier and step it
answers, from `urn:agency:<code>`, keyed by the dossier id, continuing the assignment's trace.

`cases` is what the kit sends, `judging` decides what the reports mean (no I/O), `broker` does the Kafka
side and `cli` is the command.
"""

from dossierbus_shared.contract.kit.broker import run_contract_kit
from dossierbus_shared.contract.kit.cases import SCENARIO_FIELD, SCENARIOS, answers_the_kit, assignment
from dossierbus_shared.contract.kit.cli import main, run
from dossierbus_shared.contract.kit.judging import Check, KitReport

__all__ = [
    "SCENARIOS",
    "SCENARIO_FIELD",
    "Check",
    "KitReport",
    "answers_the_kit",
    "assignment",
    "main",
    "run",
    "run_contract_kit",
]

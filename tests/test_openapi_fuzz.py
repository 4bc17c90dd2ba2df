"""Every operation of every service, driven by schemathesis from its own OpenAPI document against the
real stack: whatever it is sent, no service answers 5xx, and every status code it answers is one its
document declares. Business outcomes are other tests' concern.

Bounded for CI: EXAMPLES_PER_OPERATION valid and as many invalid cases (schemathesis's positive and
negative generation) per operation, no shrinking, no example database. Each failing operation is
reported with the request that reproduces it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import status_code_conformance

from dossierbus_devstack.stack import DevStack

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 6
CHECKS = [not_a_server_error, status_code_conformance]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)


def fuzz(stack: DevStack, service: str, headers: dict[str, str]) -> None:
    """Every operation of `service`, valid and invalid cases; one report naming each failing operation."""
    # With the caller's credentials: the console serves its document to operators only.
    schema = schemathesis.openapi.from_url(stack.url(service, "/openapi.json"), headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"{service} documents no operation"
    failures = []
    session = requests.Session()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ_SETTINGS
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case: schemathesis.Case) -> None:
                case.call_and_validate(
                    base_url=stack.url(service), session=session, headers=headers, checks=CHECKS, timeout=30
                )

            try:
                exercise()
            except Unsatisfiable:
                pass  # no invalid input exists (an operation without parameters, or any string fits)
            except Exception as failure:
                failures.append(f"{operation.label} ({mode.value}): {failure}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("service", ["intake", "routing", "registry", "notifications", "console"])
def test_no_5xx_and_only_documented_status_codes(
    stack: DevStack, authorization: Callable[[str], dict[str, str]], service: str
) -> None:
    fuzz(stack, service, authorization(service))

"""Fixtures of the end-to-end tests that call the services as their legitimate callers would."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from dossierbus_devstack.stack import DevStack


@pytest.fixture(scope="session")
def bearer_tokens(stack: DevStack) -> dict[str, str]:
    """The token each service's most capable legitimate caller sends, as `Authorization: Bearer <token>`:
    the portal for intake, an operator for routing, notifications and the console.

    The registry is called as an agency: its onboarding operations then refuse the call, rather than
    create agencies and topics for whatever a test generates."""
    return {
        "intake": stack.portal_token,
        "routing": stack.operator_token,
        "notifications": stack.operator_token,
        "registry": stack.agency_credentials["justice-hanoi"]["api_token"],
        "console": stack.operator_token,
    }


@pytest.fixture(scope="session")
def authorization(bearer_tokens: dict[str, str]) -> Callable[[str], dict[str, str]]:
    """`authorization(service)`: the headers that carry the token of `service`'s caller, if any."""

    def headers(service: str) -> dict[str, str]:
        token = bearer_tokens.get(service)
        return {"Authorization": f"Bearer {token}"} if token else {}

    return headers


@pytest.fixture(scope="session")
def isolated() -> None:
    """For a test whose stack has a broker and a PostgreSQL of its own (`DevStack()`) because it kills
    their parts or runs replicas: another stack's services on the same broker would join the same
    consumer groups and take partitions. Skipped where the environment names a shared broker or database."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("DATABASE_URL"):
        pytest.skip("KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL name a broker or database other stacks share")

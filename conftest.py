"""Fixtures for every test that needs real parts: a Kafka-protocol broker and PostgreSQL (started once per
session, or taken from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), and the whole stack on top of them.

A test is marked `kafka` and/or `db` from the fixtures it uses, directly or through other fixtures, so
`pytest -m "not db and not kafka"` runs the tests that start nothing."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from dossierbus_devstack.mail import MailSink
    from dossierbus_devstack.stack import DevStack

# Bytecode is kept even where PYTHONDONTWRITEBYTECODE is set (as on the development machines), here and in
# the processes the tests start: without it every run compiles each module of the checkout again, rewrites
# the assertions of every test module again, and each child process (a CLI, the OpenID provider, the apps
# imported on their own) compiles all it imports. The development stack's services keep it too
# (dossierbus_devstack.services.service_environment). The parts below are imported by the fixtures that
# start them: a run that starts none (`-m "not db and not kafka"`) does not import them.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# The services the tests start in this process do not freeze what exists when they start (gc.freeze): the
# test run's objects of that moment would never be collected, a leak that grows with every start.
os.environ.setdefault("GC_FREEZE_AT_START", "false")

if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
    # Tansu holds each joining consumer for half its session timeout: the services tests start in-process
    # join in 1 s instead of 5. (A Kafka broker refuses less than its group.min.session.timeout.ms, 6 s by
    # default; the stack's processes keep their own 6 s.)
    os.environ.setdefault("KAFKA_SESSION_TIMEOUT_MS", "2000")

# The fixture that starts (or names) each real part, and the mark every test that depends on it gets.
# (`isolated`: the test starts a whole stack of its own, broker and database included.)
MARKS_BY_FIXTURE = {"kafka_bootstrap": ("kafka",), "database_url": ("db",), "isolated": ("kafka", "db")}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())  # the closure: fixtures of fixtures included
        for fixture, marks in MARKS_BY_FIXTURE.items():
            if fixture in fixtures:
                for mark in marks:
                    item.add_marker(mark)


@pytest.fixture(scope="session")
def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="dossierbus-tests-"))


@pytest.fixture(scope="session")
async def kafka_bootstrap(workdir: Path) -> AsyncIterator[str]:
    if external := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield external
        return
    from dossierbus_devstack.broker import TansuBroker
    from dossierbus_devstack.parts import free_port

    broker = TansuBroker(free_port(), workdir / "tansu.log")
    await broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
async def database_url(workdir: Path) -> AsyncIterator[str]:
    if external := os.environ.get("DATABASE_URL"):
        yield external
        return
    from dossierbus_devstack.database import EmbeddedPostgres

    database = EmbeddedPostgres(workdir / "postgres")
    try:
        yield await database.start()
    finally:
        database.stop()


@pytest.fixture(scope="session")
async def stack(kafka_bootstrap: str, database_url: str) -> AsyncIterator[DevStack]:
    from dossierbus_devstack.stack import DevStack

    # The business registration office only ever starts processing: its dossiers stay live, so tests can
    # make lookups for them.
    async with DevStack(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        agency_steps={"planning-investment-hanoi": ("processing",)},
    ) as running:
        yield running


@pytest.fixture(scope="session")
def mail(stack: DevStack) -> MailSink:
    return stack.mail


@pytest.fixture
async def http(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the stack's services that calls as the one-stop portal; a request acts as someone
    else with its own `Authorization` header (`stack.headers("operator")`, a citizen's token)."""
    async with httpx.AsyncClient(timeout=30, headers=stack.headers("portal")) as client:
        yield client


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium driven by Playwright, for the pages' browser tests (the console's, the citizen
    page's); Playwright's own browser downloads are never used."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (python3 dev.py test does it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            await browser.close()

"""What the HTTP endpoints are given, as typed FastAPI dependencies: `bootstrap()` provides each one
(`provide`), tests may provide others."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI

from dossierbus_routing.domain import Context
from dossierbus_routing.unit_of_work import UnitOfWorkFactory


def _context() -> Context:
    raise NotImplementedError("provided by bootstrap()")


def _unit_of_work() -> UnitOfWorkFactory:
    raise NotImplementedError("provided by bootstrap()")


RoutingContext = Annotated[Context, Depends(_context)]
"""The catalogue, the calendar, who handles a step, and the time."""
UnitsOfWork = Annotated[UnitOfWorkFactory, Depends(_unit_of_work)]
"""Opens a unit of work (a transaction) on routing's database."""


def provide(app: FastAPI, context: Context, unit_of_work: UnitOfWorkFactory) -> None:
    app.dependency_overrides[_context] = lambda: context
    app.dependency_overrides[_unit_of_work] = lambda: unit_of_work

"""What the HTTP entrypoints work with, made once by `bootstrap()`, as typed FastAPI dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from dossierbus_registry.agencies import AgencyCatalogue
from dossierbus_registry.consents import Consents
from dossierbus_registry.domain.access_log import ChainKey
from dossierbus_registry.lookups import Lookups
from dossierbus_registry.settings import RegistrySettings
from dossierbus_registry.unit_of_work import UnitsOfWork


@dataclass(frozen=True)
class Components:
    settings: RegistrySettings
    key: ChainKey
    agencies: AgencyCatalogue
    lookups: Lookups
    consents: Consents
    unit_of_work: UnitsOfWork


def components(request: Request) -> Components:
    made: Components = request.app.state.components
    return made


Made = Annotated[Components, Depends(components)]


def _settings(made: Made) -> RegistrySettings:
    return made.settings


def _key(made: Made) -> ChainKey:
    return made.key


def _agencies(made: Made) -> AgencyCatalogue:
    return made.agencies


def _lookups(made: Made) -> Lookups:
    return made.lookups


def _consents(made: Made) -> Consents:
    return made.consents


def _unit_of_work(made: Made) -> UnitsOfWork:
    return made.unit_of_work


SettingsDep = Annotated[RegistrySettings, Depends(_settings)]
KeyDep = Annotated[ChainKey, Depends(_key)]
AgenciesDep = Annotated[AgencyCatalogue, Depends(_agencies)]
LookupsDep = Annotated[Lookups, Depends(_lookups)]
ConsentsDep = Annotated[Consents, Depends(_consents)]
UnitOfWorkDep = Annotated[UnitsOfWork, Depends(_unit_of_work)]

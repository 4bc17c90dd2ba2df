"""Routing service: `uvicorn dossierbus_routing.app:app`."""

from dossierbus_routing.bootstrap import bootstrap

service, app = bootstrap()

"""Intake service: `uvicorn dossierbus_intake.app:app`."""

from dossierbus_intake.bootstrap import bootstrap

service, app = bootstrap()

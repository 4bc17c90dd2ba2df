"""Registry service: `uvicorn dossierbus_registry.app:app`."""

from dossierbus_registry.bootstrap import bootstrap

service, app = bootstrap()

"""Notifications service: `uvicorn dossierbus_notifications.app:app`."""

from dossierbus_notifications.bootstrap import bootstrap

service, app = bootstrap()

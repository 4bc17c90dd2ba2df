"""The registry's rules, free of I/O: verifying a submitted dossier against the national records, who
holds which step of which dossier, purpose binding, consents and the keyed access log.

`Citizen`, `Enterprise` and `verify` are the names most callers need, so they are here too."""

from dossierbus_registry.domain.national import Citizen, Enterprise
from dossierbus_registry.domain.verification import normalise_name, verify, verify_enterprise

__all__ = ["Citizen", "Enterprise", "normalise_name", "verify", "verify_enterprise"]

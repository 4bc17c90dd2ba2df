"""A reference agency system for the dossierbus agency-facing contract, using only aiokafka."""

from reference_agency.agency import run_agency

__all__ = ["run_agency"]

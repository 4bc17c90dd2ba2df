"""The procedure and agency catalogue, loaded from versioned YAML files shipped with the library."""

from dossierbus_shared.catalogue.models import (
    Agency,
    Catalogue,
    FormField,
    Procedure,
    Step,
    StepFee,
    default_catalogue,
    load_catalogue,
)

__all__ = [
    "Agency",
    "Catalogue",
    "FormField",
    "Procedure",
    "Step",
    "StepFee",
    "default_catalogue",
    "load_catalogue",
]

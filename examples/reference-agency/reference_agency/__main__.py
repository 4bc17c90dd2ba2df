"""`python -m reference_agency`, the same as the `reference-agency` command."""

from reference_agency.agency import main

main()

"""The citizen page intake serves at /citizen: a signed-in citizen's own dossiers (docs/citizen-view.md)."""

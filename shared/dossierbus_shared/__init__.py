"""The one library every dossierbus service uses."""

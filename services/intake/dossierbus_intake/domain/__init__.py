"""Intake's rules, free of I/O: what a valid submission is, how a dossier is numbered and dated
(`submission`), and what a received dossier allows: its latest status, its rating (`dossier`)."""

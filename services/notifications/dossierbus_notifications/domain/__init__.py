"""Notifications' rules, free of I/O: who is told what about each event (`notifying`), what is known and
queued about one dossier (`correspondence`, `recipient`), and how one notification is delivered, retried
and given up (`notification`)."""

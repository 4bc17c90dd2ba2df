"""Dead letters: records a consumer cannot process go to `<topic>.dlq` with the reason in headers."""

from dossierbus_shared.dlq.letters import DeadLetter, DeadLetterPublisher, dead_letter_headers

__all__ = ["DeadLetter", "DeadLetterPublisher", "dead_letter_headers"]

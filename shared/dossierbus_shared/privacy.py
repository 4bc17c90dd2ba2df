"""Keeping citizens' personal data out of spans and logs.

Identifiers that name a person (the 12-digit personal ID, tax codes, phone numbers, email addresses) are
replaced by a pseudonym: `pii:` and the first 16 hex digits of HMAC-SHA256(pepper, value). The same
value gives the same pseudonym in every service that shares the pepper, so an operator can still follow
one applicant across spans and log lines without seeing who it is.

Why keyed: there are only 10^12 twelve-digit IDs (far fewer valid ones: province, century and birth year
fix half the digits), so a plain SHA-256 of an ID is reversed by hashing them all, minutes on one GPU.
With HMAC the attacker also needs the pepper, a 256-bit secret kept out of the telemetry backend
(`PII_PEPPER`, from a secret store); without it the pseudonym is no easier to reverse than guessing the
key. Without a configured pepper each process draws a random one: safe, but then pseudonyms differ
between services and restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets

PSEUDONYM_PREFIX = "pii:"

# Attribute or field names whose whole value is personal data, whatever it looks like.
PERSONAL_FIELDS = frozenset(
    {"personal_id", "tax_code", "full_name", "date_of_birth", "email", "phone", "applicant"}
)

# Personal IDs (12 digits; old identity cards 9), tax codes (10, 10-3, 13), phones (10, or 11 with 84):
# a run of exactly these lengths, glued to letters or not (`CCCD001090000001`), not part of a longer
# number or of a decimal one.
_DIGITS = r"(?:\d{10}-\d{3}|\d{13}|\d{12}|\d{11}|\d{10}|\d{9})"
# Phones written in groups (`091 234 5678`, `+84 91 234 5678`).
_GROUPED_PHONE = r"(?:\+84|84|0)(?:[ -]?\d){8,10}"
_PERSONAL_TEXT = re.compile(
    # A UUID is kept whole (its last group may be twelve digits); hex ids are single longer tokens.
    r"(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)"
    r"|(?P<hex>\b(?=[0-9a-f]*[a-f])[0-9a-f]{16,}\b)"  # trace and span ids, digests
    rf"|(?<!\d)(?<!\d\.){_DIGITS}(?!\d|\.\d)"
    rf"|(?<![\d+])(?<!\d\.){_GROUPED_PHONE}(?![ -]?\d|\.\d)"
    r"|\+84\d{9}(?!\d)"
    r"|[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+"
)

_pepper: bytes = secrets.token_bytes(32)
_pepper_configured = False


def set_pepper(pepper: str | bytes | None) -> None:
    """Use this secret for pseudonyms; None keeps the random per-process one (and says so)."""
    global _pepper, _pepper_configured
    if not pepper:
        if not _pepper_configured:
            logging.getLogger(__name__).warning(
                "PII_PEPPER is not set: personal identifiers are pseudonymised with a random key of this "
                "process, so pseudonyms differ between services"
            )
        return
    _pepper = pepper.encode() if isinstance(pepper, str) else pepper
    _pepper_configured = True


def pseudonym(value: str) -> str:
    digest = hmac.new(_pepper, value.strip().encode(), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:16]


def redact_text(text: str) -> str:
    """`text` with every personal identifier in it replaced by its pseudonym."""
    return _PERSONAL_TEXT.sub(_replace, text)


def _replace(match: re.Match[str]) -> str:
    return match.group() if match["uuid"] or match["hex"] else pseudonym(match.group())


def is_personal_field(name: str) -> bool:
    """True for a field such as `applicant.personal_id` or `tax_code`."""
    return name.rsplit(".", 1)[-1] in PERSONAL_FIELDS

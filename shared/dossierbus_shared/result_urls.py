"""Where an agency's result documents may be: https URLs on the host names the agency registered.

A result link goes to the citizen (e-mail, portal): a `javascript:` or plain-http link, or one on a host
the agency does not answer for, would turn a report into a phishing or script vector signed by the state.
Host names match exactly (no wildcard: `gov.vn` does not admit `anything.gov.vn`), compared in
lower case and in their ASCII (IDNA) form.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import urlsplit

DOMAIN_PATTERN = r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"
"""A fully qualified host name, lower case, ASCII (an internationalised name in its `xn--` form)."""

_DOMAIN = re.compile(DOMAIN_PATTERN)


def checked_domain(domain: str) -> str:
    """The host name in the form URLs are compared with; ValueError saying why it is not one."""
    candidate = domain.strip().rstrip(".").lower()
    try:
        candidate = candidate.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{domain!r} is not a host name") from None
    if not _DOMAIN.match(candidate):
        raise ValueError(f"{domain!r} is not a host name such as results.tuphap.hanoi.gov.vn")
    return candidate


def https_host(url: str) -> str | None:
    """The host of an https URL with no credentials, port other than 443 or blanks; None for any
    other URL (another scheme, a relative or malformed one)."""
    if any(character.isspace() or ord(character) < 0x20 or ord(character) == 0x7F for character in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not parts.hostname or parts.username is not None:
        return None
    if port not in (None, 443):
        return None
    try:
        return checked_domain(parts.hostname)
    except ValueError:
        return None


def result_url_problem(url: str, domains: Collection[str]) -> str | None:
    """Why this result URL may not be sent to a citizen by an agency with these domains; None if it may."""
    host = https_host(url)
    if host is None:
        return f"result document URL {url[:200]!r} is not an https URL"
    if host not in domains:
        registered = ", ".join(sorted(domains)) or "none"
        return f"result document URL {url[:200]!r} is not on a domain the agency registered ({registered})"
    return None

"""Text no service can store or answer with, refused at the door of every service.

PostgreSQL refuses NUL (U+0000) in text and JSONB, and a string holding an unpaired surrogate (JSON
allows `"\\ud800"`) cannot be encoded as UTF-8 at all: either one used to fail deep in a handler, in the
database or while writing the answer. `refuse_unsafe_text` looks at every path and query parameter and
at every string (and object key) of a JSON body before any handler runs, and answers 422 naming each
offending field. `install_error_handlers` (http_errors.py) installs it on every app.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

UNSAFE_TEXT = "unsafe_text"


def text_problem(text: str) -> str | None:
    """Why `text` cannot be accepted, or None."""
    if "\x00" in text:
        return "must not contain the NUL character (U+0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (it contains an unpaired surrogate)"
    return None


def printable_name(name: str) -> str:
    """A field name as it can be shown in an answer, whatever it contains."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


def unsafe_strings(document: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, reason) of every string value or object key in a parsed JSON document that cannot be
    accepted. Walks with a stack, not recursion: JSON as deep as the parser allows is fine."""
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if reason := text_problem(value):
                yield path, reason
        elif isinstance(value, dict):
            for key, item in value.items():
                if reason := text_problem(key):
                    yield (*path, printable_name(key)), f"name {reason}"
                pending.append(((*path, printable_name(key)), item))
        elif isinstance(value, list):
            pending.extend(((*path, index), item) for index, item in enumerate(value))


_MAYBE_UNSAFE = re.compile(rb"\x00|\\u0000|\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
"""What a JSON body must hold for a string of it to be unsafe once parsed: a NUL, written as is or as an
escape, or a surrogate, escaped or encoded in the bytes (json.loads lets surrogates through). A body
without any is not parsed and walked here: most are not."""


def _error(location: str, path: tuple[str | int, ...], reason: str) -> dict[str, Any]:
    return {"loc": (location, *path), "msg": reason, "type": UNSAFE_TEXT}


async def refuse_unsafe_text(request: Request) -> None:
    """A dependency of every route: 422 for NUL or unpaired surrogates anywhere in the request."""
    errors = [
        _error(location, (printable_name(name),), reason)
        for location, items in (
            ("path", list(request.path_params.items())),
            ("query", request.query_params.multi_items()),
        )
        for name, value in items
        if (reason := text_problem(name) or text_problem(str(value)))
    ]
    body = await request.body()
    if body and _MAYBE_UNSAFE.search(body):
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            document = None  # not JSON: the route's own body validation answers
        errors.extend(_error("body", path, reason) for path, reason in unsafe_strings(document))
    if errors:
        raise RequestValidationError(errors)

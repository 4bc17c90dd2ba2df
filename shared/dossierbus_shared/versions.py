"""Event versions side by side. An incompatible change to an event is a new type (`….v2`) on the same
topic; producers move to it at their own pace while both versions flow. A reader either handles each
version itself or registers an upcaster (how a v1 becomes a v2) and keeps one handler, for the newest.
A version is retired only once no producer sends it any more; its upcaster goes with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from dossierbus_shared.events import Event

Old = TypeVar("Old", bound=Event)
New = TypeVar("New", bound=Event)
Upcaster = Callable[[Any], Event]

_VERSION = re.compile(r"^(?P<name>.+)\.v(?P<number>\d+)$")


def version_of(event_type: type[Event]) -> tuple[str, int]:
    """(`vn.gov.dossierbus.dossier.status-reported`, 1) for `….status-reported.v1`."""
    match = _VERSION.match(event_type.type)
    if match is None:
        raise ValueError(f"event type {event_type.type!r} does not end in a version (.v1)")
    return match["name"], int(match["number"])


class Upcasters:
    """How each older version of an event becomes the next one."""

    def __init__(self) -> None:
        self._next: dict[type[Event], tuple[type[Event], Upcaster]] = {}

    def register(
        self, old: type[Old], new: type[New]
    ) -> Callable[[Callable[[Old], New]], Callable[[Old], New]]:
        """Declare `function(old_event) -> new_event`; only between successive versions of one event."""
        (old_name, old_number), (new_name, new_number) = version_of(old), version_of(new)
        if old_name != new_name or new_number != old_number + 1:
            raise ValueError(f"an upcaster goes from one version to the next: not {old.type} → {new.type}")
        if old.topic != new.topic:
            raise ValueError(f"{old.type} and {new.type} must share a topic to be read side by side")

        def add(function: Callable[[Old], New]) -> Callable[[Old], New]:
            self._next[old] = (new, function)
            return function

        return add

    def upcast(self, event: Event, wanted: Collection[type[Event]]) -> Event | None:
        """The event raised version by version to the first one in `wanted`; None if none is reachable.
        An upcaster that cannot convert this event raises ValueError (pydantic's ValidationError is one)."""
        current = event
        while type(current) not in wanted:
            step = self._next.get(type(current))
            if step is None:
                return None
            new_type, function = step
            current = function(current)
            if not isinstance(current, new_type):
                raise TypeError(f"the upcaster to {new_type.type} returned {type(current).__name__}")
        return current


UPCASTERS = Upcasters()
"""The bus's upcasters. Every event is at its first version so far, so there are none yet."""

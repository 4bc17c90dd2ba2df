"""Compatibility of event schemas within a version.

Within a version (`.v1`) an event may only gain optional fields. Everything already published stays as it
is, because both sides of a topic hold on to it: a producer (an agency reporting, a service publishing)
still sends what was valid, and a reader (an agency's inbox, a service consuming) still validates what it
receives against what it knew. So a field may not be removed, made required or optional, change its type,
its enum values (narrowed or widened), its pattern, format or bounds; a required field may not be added.
Documentation (title, description, examples, default) may change. Anything else needs a new version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ANNOTATIONS = frozenset({"title", "description", "examples", "default", "$comment", "deprecated"})
_STRUCTURE = frozenset({"properties", "required", "items", "anyOf", "oneOf", "allOf", "$ref", "$defs"})


@dataclass(frozen=True)
class Incompatibility:
    schema: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.schema}: {self.path or '(root)'}: {self.reason}"


def compare_catalogues(
    published: Mapping[str, Mapping[str, Any]], current: Mapping[str, Mapping[str, Any]]
) -> list[Incompatibility]:
    """Every incompatible change from the published schemas to the current ones (by schema name)."""
    problems: list[Incompatibility] = []
    for name in sorted(published):
        if name not in current:
            problems.append(
                Incompatibility(name, "", "the event type was removed; readers and producers still use it")
            )
            continue
        problems += compare_schemas(name, published[name], current[name])
    return problems


def compare_schemas(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Incompatibility]:
    return _Comparison(name, old, new).compare(old, new, "")


class _Comparison:
    def __init__(self, name: str, old_root: Mapping[str, Any], new_root: Mapping[str, Any]) -> None:
        self.name = name
        self.old_root = old_root
        self.new_root = new_root
        self.problems: list[Incompatibility] = []

    def fail(self, path: str, reason: str) -> None:
        self.problems.append(Incompatibility(self.name, path, reason))

    def compare(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> list[Incompatibility]:
        self._compare(old, new, path, frozenset())
        return self.problems

    def _compare(
        self, old: Mapping[str, Any], new: Mapping[str, Any], path: str, seen: frozenset[tuple[str, str]]
    ) -> None:
        old_ref, new_ref = old.get("$ref"), new.get("$ref")
        if old_ref or new_ref:
            if (str(old_ref), str(new_ref)) in seen:  # a recursive model, already being compared
                return
            seen = seen | {(str(old_ref), str(new_ref))}
            old = _resolve(self.old_root, old)
            new = _resolve(self.new_root, new)
        self._compare_keywords(old, new, path)
        self._compare_object(old, new, path, seen)
        if isinstance(old.get("items"), Mapping) and isinstance(new.get("items"), Mapping):
            self._compare(old["items"], new["items"], f"{path}[]", seen)
        elif old.get("items") != new.get("items"):
            self.fail(path, "the type of the array items changed")
        for keyword in ("anyOf", "oneOf", "allOf"):
            old_options, new_options = old.get(keyword, []), new.get(keyword, [])
            if len(old_options) != len(new_options):
                self.fail(
                    path,
                    f"the alternatives ({keyword}) changed: {_types(old_options)} → {_types(new_options)}",
                )
                continue
            for old_option, new_option in zip(old_options, new_options, strict=True):
                self._compare(old_option, new_option, path, seen)

    def _compare_keywords(self, old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> None:
        for keyword in sorted((set(old) | set(new)) - ANNOTATIONS - _STRUCTURE):
            before, after = old.get(keyword), new.get(keyword)
            if (
                keyword == "additionalProperties"
                and isinstance(before, Mapping)
                and isinstance(after, Mapping)
            ):
                self._compare(before, after, f"{path}{{*}}", frozenset())
                continue
            if before == after:
                continue
            if keyword == "type":
                self.fail(path, f"the type changed from {before} to {after}")
            elif keyword == "enum":
                removed = [value for value in before or [] if value not in (after or [])]
                added = [value for value in after or [] if value not in (before or [])]
                if removed:
                    self.fail(path, f"the enum was narrowed: {removed} no longer allowed")
                if added:
                    self.fail(path, f"the enum was widened: readers of this version refuse {added}")
            elif before is None:
                self.fail(path, f"{keyword} {after!r} was added: values valid before may now be refused")
            elif after is None:
                self.fail(path, f"{keyword} {before!r} was dropped: values readers refused are now sent")
            else:
                self.fail(path, f"{keyword} changed from {before!r} to {after!r}")

    def _compare_object(
        self, old: Mapping[str, Any], new: Mapping[str, Any], path: str, seen: frozenset[tuple[str, str]]
    ) -> None:
        old_properties: Mapping[str, Any] = old.get("properties", {})
        new_properties: Mapping[str, Any] = new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for field, old_field in old_properties.items():
            where = f"{path}.{field}" if path else field
            if field not in new_properties:
                self.fail(where, "the field was removed")
                continue
            if field in old_required and field not in new_required:
                self.fail(where, "the field is no longer required: readers rely on it being there")
            if field not in old_required and field in new_required:
                self.fail(where, "the field became required: producers of this version leave it out")
            self._compare(old_field, new_properties[field], where, seen)
        for field in sorted(set(new_properties) - set(old_properties)):
            if field in new_required:
                where = f"{path}.{field}" if path else field
                self.fail(where, "a required field was added: producers of this version do not send it")


def _resolve(root: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, not {ref!r}")
    target: Any = root
    for part in ref[2:].split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    # Keywords beside the $ref (2020-12 allows them) apply as well.
    return {**target, **{key: value for key, value in schema.items() if key != "$ref"}}


def _types(options: list[Mapping[str, Any]]) -> str:
    return "|".join(str(option.get("type", option.get("$ref", "?"))) for option in options)

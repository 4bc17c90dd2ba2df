"""Machine-readable HTTP errors: pydantic errors as {field, location, message, type}."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from dossierbus_shared.http_errors import PROBLEM_JSON, field_errors, problem


class Applicant(BaseModel):
    personal_id: str
    age: int


class Body(BaseModel):
    applicant: Applicant
    items: list[int]


def body_errors(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Errors located as FastAPI locates them for a request body."""
    try:
        Body.model_validate(payload)
    except ValidationError as error:
        return [{**item, "loc": ("body", *item["loc"])} for item in error.errors()]
    raise AssertionError("payload was valid")


def test_body_errors_are_dotted_paths_without_the_location() -> None:
    errors = field_errors(body_errors({"applicant": {"age": "old"}, "items": [1, "two"]}))

    by_field = {item["field"]: item for item in errors}
    assert set(by_field) == {"applicant.personal_id", "applicant.age", "items.1"}
    assert by_field["applicant.personal_id"]["type"] == "missing"
    assert by_field["applicant.personal_id"]["message"] == "Field required"
    assert by_field["applicant.age"]["type"] == "int_parsing"
    assert all(item["location"] == "body" for item in errors)
    assert all(set(item) == {"field", "location", "message", "type"} for item in errors)


@pytest.mark.parametrize(
    ("loc", "field", "location"),
    [
        (("query", "limit"), "limit", "query"),
        (("path", "dossier_id"), "dossier_id", "path"),
        (("header", "idempotency-key"), "idempotency-key", "header"),
        (("body",), "", "body"),
        ((), "", "body"),
    ],
)
def test_location_is_split_from_the_field(loc: tuple[Any, ...], field: str, location: str) -> None:
    [error] = field_errors([{"loc": loc, "msg": "Field required", "type": "missing"}])

    assert error == {"field": field, "location": location, "message": "Field required", "type": "missing"}


def test_empty_list_gives_no_errors() -> None:
    assert field_errors([]) == []


def test_a_field_named_like_a_location_keeps_its_name() -> None:
    [error] = field_errors([{"loc": ("body", "form", "path"), "msg": "Field required", "type": "missing"}])

    assert error["field"] == "form.path"


def test_problem_document() -> None:
    errors = [{"field": "form.child_sex", "location": "body", "message": "bad", "type": "literal_error"}]
    response = problem(422, "Invalid request", "invalid or missing: form.child_sex", errors)

    assert response.status_code == 422
    assert response.media_type == PROBLEM_JSON == "application/problem+json"
    assert json.loads(response.body) == {
        "type": "about:blank",
        "title": "Invalid request",
        "status": 422,
        "detail": "invalid or missing: form.child_sex",
        "errors": errors,
    }


def test_problem_without_errors_has_no_errors_member() -> None:
    assert "errors" not in json.loads(problem(404, "Not found", "no such dossier").body)

"""The input checks every app installs: NUL and unpaired surrogates anywhere in a request, integers and
dates out of bounds, each answered 422 naming the field, before any handler runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from dossierbus_shared.bounds import BoundedDate, BoundedDatetime, RowId
from dossierbus_shared.http_errors import PROBLEM_JSON, install_error_handlers

handled: list[str] = []


class Body(BaseModel):
    name: str
    form: dict[str, Any] = {}
    tags: list[str] = []
    born: BoundedDate | None = None
    until: BoundedDatetime | None = None


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things/{code}")
    async def thing(code: str, body: Body, q: str | None = None) -> dict[str, str]:
        handled.append(code)
        return {"code": code}

    @app.get("/rows/{row_id}")
    async def row(row_id: RowId) -> dict[str, int]:
        return {"row": row_id}

    return app


async def call(method: str, path: str, content: bytes | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        return await http.request(method, path, content=content, headers={"content-type": "application/json"})


def fields(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    return {f"{error['location']}:{error['field']}" for error in answer.json()["errors"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (rb'{"name": "Lan\u0000"}', "body:name"),
        (rb'{"name": "Lan\ud800"}', "body:name"),
        (rb'{"name": "ok", "form": {"child": {"names": ["a", "\udfff b"]}}}', "body:form.child.names.1"),
        (rb'{"name": "ok", "form": {"bad\u0000key": 1}}', "body:form.bad\\u0000key"),
        (rb'{"name": "ok", "tags": ["\u0000"]}', "body:tags.0"),
        (rb'{"name": "Lan\uDBFF"}', "body:name"),  # escapes are case-insensitive
        (b'{"name": "Lan\xed\xa0\x80"}', "body:name"),  # a surrogate encoded in the bytes themselves
    ],
)
async def test_nul_and_unpaired_surrogates_in_the_body_are_refused(body: bytes, field: str) -> None:
    handled.clear()
    assert field in fields(await call("POST", "/things/x", body))
    assert handled == []


async def test_nul_in_path_and_query_is_refused() -> None:
    assert fields(await call("POST", "/things/a%00b", b'{"name": "ok"}')) == {"path:code"}
    assert fields(await call("POST", "/things/ab?q=%00", b'{"name": "ok"}')) == {"query:q"}


async def test_deep_but_valid_json_is_walked_without_recursion() -> None:
    deep = b'{"name": "ok", "form": {"x": ' + b"[" * 500 + b'"\\u0000"' + b"]" * 500 + b"}}"
    answer = await call("POST", "/things/x", deep)
    assert answer.status_code == 422


async def test_good_input_passes() -> None:
    answer = await call("POST", "/things/x?q=y", '{"name": "Nguyễn Thị Lan", "born": "1990-04-02"}'.encode())
    assert answer.status_code == 200 and answer.json() == {"code": "x"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "ok", "born": "9999-12-31"}', "body:born"),
        (b'{"name": "ok", "born": "0001-01-01"}', "body:born"),
        (b'{"name": "ok", "until": "9999-12-31T23:59:59-23:59"}', "body:until"),
        (b'{"name": "ok", "until": "0001-01-01T00:00:00+23:59"}', "body:until"),
    ],
)
async def test_dates_out_of_bounds_are_refused(body: bytes, field: str) -> None:
    assert fields(await call("POST", "/things/x", body)) == {field}


async def test_ids_past_a_bigint_are_refused() -> None:
    assert fields(await call("GET", f"/rows/{2**63}")) == {"path:row_id"}
    assert (await call("GET", f"/rows/{2**63 - 1}")).json() == {"row": 2**63 - 1}


def test_every_operation_documents_the_common_answers() -> None:
    operation = make_app().openapi()["paths"]["/rows/{row_id}"]["get"]
    assert {"422", "500", "503"} <= set(operation["responses"])

"""What an app with the shared error handling answers when the database fails, on a real PostgreSQL:
a statement that fails on a citizen's data gives a 500 with no detail, and neither the log nor the spans
hold the data; every connection busy gives a 503 with Retry-After, and the retry succeeds."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
import sqlalchemy.exc
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel
from sqlalchemy import text

from dossierbus_shared.db import Database
from dossierbus_shared.http_errors import PROBLEM_JSON, RETRY_AFTER_S, install_error_handlers
from dossierbus_shared.logs import configure_logging
from dossierbus_shared.telemetry import RedactingSpanExporter, span_record

FULL_NAME = "Nguyễn Thị Lan"
DATE_OF_BIRTH = "1990-04-02"
PERSONAL_ID = "001090000001"


class Applicant(BaseModel):
    personal_id: str
    full_name: str
    date_of_birth: str


def applicant_app(db: Database) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/applicants")
    async def store(body: Applicant) -> dict[str, str]:
        async with db.transaction() as session:
            # A mistake a handler could make: the database refuses the name as a date, and its message
            # quotes the name.
            await session.execute(
                text("SELECT CAST(:full_name AS date), CAST(:personal_id AS text), CAST(:dob AS date)"),
                {"full_name": body.full_name, "personal_id": body.personal_id, "dob": body.date_of_birth},
            )
        return {"stored": "yes"}

    @app.get("/count")
    async def count() -> dict[str, int]:
        async with db.transaction() as session:
            return {"count": int((await session.execute(text("SELECT 1"))).scalar_one())}

    return app


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, "public", pool_size=1, pool_timeout_s=0.5)
    yield database
    await database.dispose()


async def test_a_database_error_on_personal_data_answers_500_and_leaks_nothing(db: Database) -> None:
    app = applicant_app(db)
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(spans)))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    handler = configure_logging("unit", log_format="json", level="INFO")
    log_stream = io.StringIO()
    handler.setStream(log_stream)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
            answer = await http.post(
                "/applicants",
                json={"personal_id": PERSONAL_ID, "full_name": FULL_NAME, "date_of_birth": DATE_OF_BIRTH},
            )
    finally:
        logging.getLogger().removeHandler(handler)
        provider.shutdown()

    assert answer.status_code == 500
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json() == {
        "type": "about:blank",
        "title": "Internal error",
        "status": 500,
        "detail": "the request could not be completed",
    }
    logged = log_stream.getvalue()
    lines = [json.loads(text) for text in logged.splitlines()]
    [line] = [line for line in lines if line["logger"] == "dossierbus_shared.http_errors"]
    assert line["level"] == "ERROR"
    assert line["message"].startswith("POST /applicants failed")
    assert "asyncpg.exceptions.DataError" in line["message"]  # the kind of fault and where, for operators
    exported = json.dumps([span_record(span) for span in spans.get_finished_spans()], ensure_ascii=False)
    assert spans.get_finished_spans()
    for value in (FULL_NAME, PERSONAL_ID, DATE_OF_BIRTH):
        assert value not in logged
        assert value not in exported


async def test_statement_parameters_stay_out_of_exception_messages(db: Database) -> None:
    with pytest.raises(sqlalchemy.exc.DBAPIError) as raised:
        async with db.transaction() as session:
            await session.execute(
                text("SELECT CAST(:full_name AS text) || CAST(1 / 0 AS text)"), {"full_name": FULL_NAME}
            )
    assert "division by zero" in str(raised.value)
    assert FULL_NAME not in str(raised.value)


async def test_every_connection_busy_answers_503_with_retry_after_then_the_retry_succeeds(
    db: Database,
) -> None:
    app = applicant_app(db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
        async with AsyncExitStack() as holding:
            for _ in range(2):  # the pool of 1 and its overflow of 1
                session = await holding.enter_async_context(db.transaction())
                await session.execute(text("SELECT 1"))
            busy = await http.get("/count")
        retried = await http.get("/count")

    assert busy.status_code == 503
    assert busy.headers["retry-after"] == str(RETRY_AFTER_S)
    assert busy.headers["content-type"] == PROBLEM_JSON
    assert busy.json()["status"] == 503
    assert retried.status_code == 200 and retried.json() == {"count": 1}

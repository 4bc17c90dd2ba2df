"""The console's JSON API under /api, which the page calls; errors are RFC 9457 problems. Every route
needs an operator (dossierbus_console.login guards them all)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import asdict
from typing import Annotated, Any, TypeVar

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from dossierbus_console.dead_letters import newest_letters, replay_event
from dossierbus_console.login import Sessions
from dossierbus_console.queues import queue_snapshot
from dossierbus_console.settings import ConsoleSettings
from dossierbus_console.traces import TraceBackend, trace_ids_of, waterfall
from dossierbus_console.upstream import Upstreams
from dossierbus_shared.http_errors import ProblemError, problem_responses
from dossierbus_shared.kafka import DLQ_SUFFIX, KafkaSecurity

router = APIRouter(prefix="/api", tags=["console"])
UPSTREAM_DOWN = {502: "A service or the broker the console reads did not answer"}

DOSSIER_CODE = r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,63}$"
TOPIC_NAME = r"^[A-Za-z0-9._\-]{1,249}$"
DossierCode = Annotated[
    str, Path(pattern=DOSSIER_CODE, description="Dossier code, e.g. 000.00.01.H26-261126-0001")
]
DlqTopic = Annotated[
    str, Path(pattern=TOPIC_NAME, description="A dead-letter topic, e.g. dossier.submitted.dlq")
]
T = TypeVar("T")


def settings_of(request: Request) -> ConsoleSettings:
    settings: ConsoleSettings = request.app.state.settings
    return settings


def upstreams_of(request: Request) -> Upstreams:
    upstreams: Upstreams = request.app.state.upstreams
    return upstreams


Settings = Annotated[ConsoleSettings, Depends(settings_of)]


@router.get("/config", summary="What the page needs to know about this console")
async def config(settings: Settings, request: Request) -> dict[str, Any]:
    session: str | None = getattr(request.state, "operator_session", None)
    sessions: Sessions = request.app.state.sessions
    return {
        "trace_ui_url": settings.trace_ui_url or None,
        # Sent back in X-CSRF-Token with a change: another site's page cannot read it.
        "csrf_token": sessions.csrf_token(session) if session else None,
    }


@router.get(
    "/dossiers/{code}/trace",
    summary="A dossier's trace as a waterfall: spans by service and agency hop, and where it waits now",
    responses=problem_responses(
        404, described={502: "A service or the trace backend the console reads did not answer"}
    ),
)
async def dossier_trace(
    code: DossierCode,
    request: Request,
    upstreams: Annotated[Upstreams, Depends(upstreams_of)],
) -> dict[str, Any]:
    backend: TraceBackend | None = request.app.state.traces
    if backend is None:
        raise ProblemError(
            404, "Traces not available", "the console has no trace backend: set TRACE_QUERY_URL or SPANS_FILE"
        )
    dossier = await upstreams.dossier(code)
    return waterfall(dossier, await backend.spans(trace_ids_of(dossier)), backend.name)


# `:path` so that a code with a slash is refused by the pattern, not by a route that does not match.
@router.get(
    "/dossiers/{code:path}",
    summary="A dossier's status, timeline with trace links, notifications and national portal sync",
    responses=problem_responses(404, described=UPSTREAM_DOWN),
)
async def dossier(
    code: DossierCode,
    upstreams: Annotated[Upstreams, Depends(upstreams_of)],
) -> dict[str, Any]:
    return await upstreams.dossier(code)


@router.get(
    "/indicators",
    summary="Decision 766 indicators per agency and procedure (from routing)",
    responses=problem_responses(404, described=UPSTREAM_DOWN),
)
async def indicators(upstreams: Annotated[Upstreams, Depends(upstreams_of)]) -> dict[str, Any]:
    return await upstreams.indicators()


@router.get(
    "/portal-sync/failures",
    summary="Status changes the national portal refused, and those being retried (from routing)",
    responses=problem_responses(404, described=UPSTREAM_DOWN),
)
async def portal_sync_failures(upstreams: Annotated[Upstreams, Depends(upstreams_of)]) -> dict[str, Any]:
    return await upstreams.portal_sync_failures()


@router.get(
    "/queues",
    summary="Every topic with its offsets, and each consumer group's lag",
    responses=problem_responses(described=UPSTREAM_DOWN),
)
async def queues(settings: Settings) -> dict[str, Any]:
    snapshot = await _on_kafka(
        settings, queue_snapshot(settings.kafka_bootstrap_servers, security=_security(settings))
    )
    return {
        "topics": [asdict(topic) for topic in snapshot.topics if not topic.is_dlq],
        "dead_letter_topics": [
            {"name": topic.name, "letters": topic.records} for topic in snapshot.topics if topic.is_dlq
        ],
        "consumer_lag": [{**asdict(lag), "lag": lag.lag} for lag in snapshot.lags],
    }


@router.get(
    "/dlq/{topic}",
    summary="The newest dead letters of one DLQ topic (without payloads)",
    responses=problem_responses(404, described=UPSTREAM_DOWN),
)
async def dead_letters(
    topic: DlqTopic,
    settings: Settings,
) -> dict[str, Any]:
    _check_dlq(topic)
    try:
        letters, total = await _on_kafka(
            settings,
            newest_letters(
                settings.kafka_bootstrap_servers, topic, settings.dead_letters_shown, _security(settings)
            ),
        )
    except ValueError as error:
        raise ProblemError(404, "Unknown topic", str(error)) from error
    return {"topic": topic, "total": total, "letters": letters}


class ReplayRequest(BaseModel):
    event_id: str = Field(min_length=1, max_length=200, description="ce_id of the dead letter(s) to replay")


@router.post(
    "/dlq/{topic}/replay",
    summary="Send one event's dead letters back to their original topic (with the session, X-CSRF-Token)",
    responses=problem_responses(401, 403, 404, 409, described=UPSTREAM_DOWN),
)
async def replay(topic: DlqTopic, body: ReplayRequest, settings: Settings) -> dict[str, Any]:
    _check_dlq(topic)
    try:
        replayed = await _on_kafka(
            settings,
            replay_event(settings.kafka_bootstrap_servers, topic, body.event_id, _security(settings)),
        )
    except ValueError as error:
        raise ProblemError(404, "Unknown topic", str(error)) from error
    if not replayed:
        raise ProblemError(
            404,
            "Unknown dead letter",
            f"no dead letter of event {body.event_id} in {topic}",
            errors=[{"field": "event_id", "location": "body", "message": "not in this DLQ"}],
        )
    return {"topic": topic, "event_id": body.event_id, "replayed": replayed}


def _check_dlq(topic: str) -> None:
    if not topic.endswith(DLQ_SUFFIX):
        raise ProblemError(
            422,
            "Invalid request",
            f"{topic!r} is not a dead-letter topic (they end in {DLQ_SUFFIX!r})",
            errors=[{"field": "topic", "location": "path", "message": f"must end in {DLQ_SUFFIX}"}],
        )


async def _on_kafka(settings: ConsoleSettings, work: Awaitable[T]) -> T:
    try:
        async with asyncio.timeout(settings.upstream_timeout_s):
            return await work
    except (KafkaError, TimeoutError) as error:
        raise ProblemError(
            502, "Broker unavailable", f"Kafka at {settings.kafka_bootstrap_servers}: {error!r}"
        ) from error


def _security(settings: ConsoleSettings) -> KafkaSecurity:
    return KafkaSecurity.from_settings(settings)

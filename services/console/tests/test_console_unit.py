"""The console's pure parts: settings checks, indicator shapes, what a dead letter shows and lag sums."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dossierbus_console.dead_letters import letter_view
from dossierbus_console.login import Sessions
from dossierbus_console.queues import GroupLag
from dossierbus_console.settings import ConsoleSettings
from dossierbus_console.upstream import normalise_indicator
from dossierbus_shared.dlq import DeadLetter


def test_the_trace_link_template_must_name_the_trace_id() -> None:
    with pytest.raises(ValidationError, match="trace_id"):
        ConsoleSettings(trace_ui_url="http://localhost:16686/trace/")
    assert ConsoleSettings(trace_ui_url="").trace_ui_url == ""
    assert "secret" not in repr(ConsoleSettings(operator_token="secret"))  # type: ignore[arg-type]


def test_indicators_in_the_documented_shape_pass_unchanged() -> None:
    documented = {
        "agency": "justice-hanoi",
        "procedure": "1.001193",
        "received": 10,
        "processed": 8,
        "on_time_rate": 0.875,
        "online_rate": 1.0,
        "digitised_rate": 0.5,
        "satisfaction_average": None,
    }
    assert normalise_indicator(documented) == documented


def test_indicators_with_routing_field_names_are_normalised() -> None:
    item = {
        "agency_code": "justice-hanoi",
        "procedure_code": "1.001193",
        "received": 4,
        "processed": 2,
        "on_time_rate": 1.0,
        "online_rate": 0.75,
        "digitised_results_rate": 0.5,
        "satisfaction": {"count": 2, "average": 4.5, "dislikes": 0},
    }
    normalised = normalise_indicator(item)
    assert normalised["agency"] == "justice-hanoi" and normalised["procedure"] == "1.001193"
    assert normalised["digitised_rate"] == 0.5
    assert normalised["satisfaction_average"] == 4.5
    assert normalised["satisfaction"] == item["satisfaction"]  # kept for whoever wants the details


def test_a_dead_letter_shows_where_and_why_but_not_its_payload() -> None:
    letter = DeadLetter(
        topic="dossier.submitted.dlq",
        partition=2,
        offset=7,
        key=b"k",
        value=b'{"applicant": {"personal_id": "001090000001"}}',
        headers=[
            ("ce_id", b"6f1c"),
            ("ce_type", b"vn.gov.dossierbus.dossier.submitted.v1"),
            ("ce_subject", b"000.00.01.H26-261126-0001"),
            ("dlq_reason", b"boom"),
            ("dlq_original_topic", b"dossier.submitted"),
            ("dlq_original_offset", b"41"),
            ("dlq_attempts", b"not a number"),
            ("dlq_failed_at", b"2026-11-26T02:00:00+00:00"),
        ],
    )
    view = letter_view(letter)
    assert view["event_id"] == "6f1c" and view["reason"] == "boom"
    assert (view["original_topic"], view["original_offset"], view["attempts"]) == (
        "dossier.submitted",
        41,
        None,
    )
    assert "001090000001" not in repr(view)


def test_lag_never_goes_below_zero() -> None:
    assert GroupLag("g", "t", committed=5, end_offset=9).lag == 4
    assert GroupLag("g", "t", committed=9, end_offset=9).lag == 0


def test_a_session_is_valid_until_it_expires_and_only_with_its_signature() -> None:
    sessions = Sessions("s3cret", max_age_s=60)
    session = sessions.issue(now=1000)

    assert sessions.valid(session, now=1059)
    assert not sessions.valid(session, now=1060)
    expires, nonce, mac = session.split(".")
    assert not sessions.valid(f"{int(expires) + 3600}.{nonce}.{mac}", now=1000)  # extended: signature breaks
    assert not sessions.valid(f"{expires}.{nonce}.{'0' * len(mac)}", now=1000)
    for garbage in ("", ".", "..", "x.y.z", "ünïcode.ø.ß"):
        assert not sessions.valid(garbage, now=1000)


def test_a_new_operator_token_ends_every_session_and_csrf_tokens_are_per_session() -> None:
    old, new = Sessions("s3cret", max_age_s=60), Sessions("rotated", max_age_s=60)
    session = old.issue(now=1000)

    assert not new.valid(session, now=1000)
    assert old.csrf_token(session) != new.csrf_token(session)
    assert old.csrf_token(session) != old.csrf_token(old.issue(now=1000))


@pytest.mark.parametrize("given", ["", "wrong", "s3cret ", "s3crét", "S3CRET"])
def test_only_the_operator_token_logs_in(given: str) -> None:
    sessions = Sessions("s3cret", max_age_s=60)
    assert not sessions.is_operator_token(given)
    assert sessions.is_operator_token("s3cret")


def test_without_an_operator_token_nobody_logs_in() -> None:
    sessions = Sessions(None, max_age_s=60)
    assert not sessions.enabled
    assert not sessions.is_operator_token("")
    assert not sessions.valid("1.2.3")

"""The citizen page's sealed cookies: read back only by a process with the same key, unchanged, of the
right kind and unexpired; the CSRF token bound to its session."""

from __future__ import annotations

import base64
import time

import pytest

from dossierbus_intake.citizen.session import (
    CitizenSession,
    SessionSeal,
    SignIn,
    masked_personal_id,
    new_session_id,
)

KEY = "a key the replicas share, from a secret store"


def session(expires_in: int = 3600) -> CitizenSession:
    return CitizenSession(
        id_token="header.payload.signature",
        personal_id="001085123456",
        expires_at=int(time.time()) + expires_in,
        session_id=new_session_id(),
    )


def test_a_session_reads_back_as_sealed() -> None:
    seal = SessionSeal(KEY)
    kept = session()
    cookie = seal.seal_session(kept)
    assert seal.open_session(cookie) == kept
    assert SessionSeal(KEY).open_session(cookie) == kept  # another replica with the same key
    assert "001085123456" not in cookie and "header" not in cookie  # the browser cannot read it


def test_a_session_sealed_under_another_key_or_changed_is_nobodys() -> None:
    seal = SessionSeal(KEY)
    cookie = seal.seal_session(session())
    assert SessionSeal("another key").open_session(cookie) is None
    assert SessionSeal(None).open_session(cookie) is None  # a random key of its own
    raw = bytearray(base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4)))
    raw[20] ^= 1
    assert seal.open_session(base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")) is None


@pytest.mark.parametrize("junk", ["", "x", "not base64 !!!", "A" * 10, "A" * 9000])
def test_junk_is_no_session(junk: str) -> None:
    assert SessionSeal(KEY).open_session(junk) is None
    assert SessionSeal(KEY).open_session(None) is None


def test_a_session_ends_when_its_token_expires() -> None:
    seal = SessionSeal(KEY)
    kept = session(expires_in=60)
    cookie = seal.seal_session(kept)
    assert seal.open_session(cookie, now=kept.expires_at - 1) == kept
    assert seal.open_session(cookie, now=kept.expires_at) is None


def test_a_sign_in_cookie_is_never_taken_for_a_session_nor_the_reverse() -> None:
    seal = SessionSeal(KEY)
    started = SignIn("state", "nonce", "verifier", "/citizen", int(time.time()) + 600)
    sign_in_cookie = seal.seal_sign_in(started)
    assert seal.open_sign_in(sign_in_cookie) == started
    assert seal.open_session(sign_in_cookie) is None
    assert seal.open_sign_in(seal.seal_session(session())) is None
    assert seal.open_sign_in(sign_in_cookie, now=started.expires_at) is None


def test_the_csrf_token_belongs_to_its_session() -> None:
    seal = SessionSeal(KEY)
    mine, other = session(), session()
    token = seal.csrf_token(mine)
    assert seal.csrf_matches(mine, token)
    assert not seal.csrf_matches(other, token)
    assert not seal.csrf_matches(mine, None)
    assert not seal.csrf_matches(mine, "")
    assert not seal.csrf_matches(mine, "é" * 64)  # not ASCII: refused, not an error
    assert not SessionSeal("another key").csrf_matches(mine, token)


def test_the_personal_id_is_masked_on_screen() -> None:
    assert masked_personal_id("001085123456") == "••••••••3456"

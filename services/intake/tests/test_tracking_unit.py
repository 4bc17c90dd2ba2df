"""Tracking secrets: derived from the dossier id with a key, kept only as digests."""

from __future__ import annotations

import uuid

from dossierbus_intake.tracking import TrackingSecrets, tracking_digest, tracking_secret_matches


def test_the_same_dossier_gets_the_same_secret_and_others_do_not() -> None:
    secrets = TrackingSecrets("key-one")
    dossier = uuid.uuid4()
    assert secrets.secret_of(dossier) == secrets.secret_of(dossier)
    assert secrets.secret_of(dossier) != secrets.secret_of(uuid.uuid4())
    assert secrets.secret_of(dossier) != TrackingSecrets("key-two").secret_of(dossier)
    assert len(secrets.secret_of(dossier)) == 32


def test_a_secret_is_checked_against_its_digest_only() -> None:
    dossier = uuid.uuid4()
    secret = TrackingSecrets("key-one").secret_of(dossier)
    digest = tracking_digest(secret)
    assert secret not in digest
    assert tracking_secret_matches(secret, digest)
    assert not tracking_secret_matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"), digest)
    assert not tracking_secret_matches("", digest)
    assert not tracking_secret_matches(secret, None)


def test_a_changed_key_still_checks_old_digests_but_cannot_show_their_secrets() -> None:
    dossier = uuid.uuid4()
    digest = tracking_digest(TrackingSecrets("old").secret_of(dossier))
    assert TrackingSecrets("old").matches(dossier, digest)
    assert not TrackingSecrets("new").matches(dossier, digest)

"""`dossierbus-dlq list|replay <topic>.dlq`: inspect dead letters and send them back for another try;
`dossierbus-dlq original <topic> <partition> <offset> --output FILE`: save the original of a letter by
reference (one whose value was too large to copy) from its source topic, checked against its SHA-256."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from dossierbus_shared.dlq.letters import DeadLetter
from dossierbus_shared.dlq.replay import describe, fetch_original, read_dead_letters, replay
from dossierbus_shared.kafka import KafkaSecurity
from dossierbus_shared.settings import ServiceSettings


async def list_letters(bootstrap: str, topic: str, security: KafkaSecurity) -> int:
    count = 0
    async for letter, _ in read_dead_letters(bootstrap, topic, security=security):
        print(describe(letter))
        count += 1
    print(f"{count} dead letter(s) in {topic}")
    return 0


async def replay_letters(
    bootstrap: str, topic: str, event_ids: list[str] | None, dry_run: bool, security: KafkaSecurity
) -> int:
    chosen = set(event_ids) if event_ids else None
    outcome = await replay(bootstrap, topic, event_ids=chosen, dry_run=dry_run, security=security)
    for letter in outcome.replayed:
        print(("would replay " if dry_run else "replayed ") + describe(letter))
    for letter in outcome.by_reference:
        print(cannot_replay(letter), file=sys.stderr)
    print(f"{len(outcome.replayed)} dead letter(s) {'to replay' if dry_run else 'replayed'} from {topic}")
    if outcome.by_reference:
        print(f"{len(outcome.by_reference)} dead letter(s) by reference NOT replayed", file=sys.stderr)
        return 1
    return 0


def cannot_replay(letter: DeadLetter) -> str:
    failure = letter.failure
    where = " ".join(
        str(failure.get(name)) for name in ("original_topic", "original_partition", "original_offset")
    )
    return (
        f"cannot replay {describe(letter)}\n"
        "  the letter holds no value (too large to copy); save the original from its source topic while "
        f"retention keeps it:\n  dossierbus-dlq original {where} --output original.bin "
        f"--sha256 {failure.get('value_sha256')}"
    )


def save_original(
    bootstrap: str,
    topic: str,
    partition: int,
    offset: int,
    output: Path,
    sha256: str | None,
    security: KafkaSecurity,
) -> int:
    original = asyncio.run(fetch_original(bootstrap, topic, partition, offset, security=security))
    value = original.value or b""
    digest = hashlib.sha256(value).hexdigest()
    if sha256 is not None and digest != sha256.lower():
        print(
            f"dossierbus-dlq: {topic}[{partition}]@{offset} has SHA-256 {digest}, not {sha256}",
            file=sys.stderr,
        )
        return 1
    output.write_bytes(value)
    print(f"saved {len(value)} bytes (sha256 {digest}) of {topic}[{partition}]@{offset} to {output}")
    for name, header in original.headers:
        shown = name.encode("utf-8", "surrogateescape")
        print(f"  header {shown!r}: {header!r}"[:300])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dossierbus-dlq", description=__doc__)
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("list", help="print every dead letter in a DLQ topic with its reason")
    show.add_argument("topic")
    again = commands.add_parser("replay", help="republish dead letters to their original topic")
    again.add_argument("topic")
    again.add_argument("--event-id", action="append", help="only this event (repeatable)")
    again.add_argument("--dry-run", action="store_true")
    fetch = commands.add_parser("original", help="save the original record of a letter by reference")
    fetch.add_argument("topic", help="the original topic (dlq_original_topic)")
    fetch.add_argument("partition", type=int, help="dlq_original_partition")
    fetch.add_argument("offset", type=int, help="dlq_original_offset")
    fetch.add_argument("--output", type=Path, required=True, help="file to write the value to")
    fetch.add_argument("--sha256", help="refuse a value whose SHA-256 differs (dlq_value_sha256)")
    args = parser.parse_args(argv)
    try:
        # The same KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_CAFILE variables as the services.
        security = KafkaSecurity.from_settings(ServiceSettings())
    except ValidationError as error:
        print(f"dossierbus-dlq: {error}", file=sys.stderr)
        return 2
    try:
        if args.command == "list":
            return asyncio.run(list_letters(args.bootstrap, args.topic, security))
        if args.command == "original":
            return save_original(
                args.bootstrap,
                args.topic,
                args.partition,
                args.offset,
                args.output,
                args.sha256,
                security,
            )
        return asyncio.run(replay_letters(args.bootstrap, args.topic, args.event_id, args.dry_run, security))
    except ValueError as error:
        print(f"dossierbus-dlq: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`dossierbus-dlq list|replay <topic>.dlq`: inspect dead letters and send them back for another try."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from pydantic import ValidationError

from dossierbus_shared.dlq.replay import describe, read_dead_letters, replay
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
    letters = await replay(bootstrap, topic, event_ids=chosen, dry_run=dry_run, security=security)
    for letter in letters:
        print(("would replay " if dry_run else "replayed ") + describe(letter))
    print(f"{len(letters)} dead letter(s) {'to replay' if dry_run else 'replayed'} from {topic}")
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
        return asyncio.run(replay_letters(args.bootstrap, args.topic, args.event_id, args.dry_run, security))
    except ValueError as error:
        print(f"dossierbus-dlq: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

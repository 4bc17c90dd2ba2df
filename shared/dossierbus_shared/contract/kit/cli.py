"""`dossierbus-contract-kit`: run the kit against an agency system and print what it found."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from dossierbus_shared.contract.kit.broker import run_contract_kit
from dossierbus_shared.signing import load_public_key


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dossierbus-contract-kit", description="Check an agency system against the dossierbus contract."
    )
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers the agency system uses")
    parser.add_argument("--agency", required=True, help="the agency code, e.g. justice-hue")
    parser.add_argument(
        "--public-key",
        required=True,
        type=Path,
        help="PEM file of the agency's registered Ed25519 public key",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the reports")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds of quiet after a final report")
    args = parser.parse_args(argv)
    try:
        public_key = load_public_key(args.public_key.read_text())
    except (OSError, ValueError) as error:
        print(f"dossierbus-contract-kit: cannot read the public key: {error}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(
            run_contract_kit(
                args.bootstrap, args.agency, public_key, timeout_s=args.timeout, settle_s=args.settle
            )
        )
    except (LookupError, ValueError, OSError) as error:
        print(f"dossierbus-contract-kit: {error}", file=sys.stderr)
        return 2
    print(report.render())
    return 0 if report.passed else 1


def run() -> None:
    sys.exit(main())

"""`dossierbus-contract generate | check`: write the contract from the code; refuse incompatible changes.

dossierbus-contract generate            # write contract/asyncapi.yaml and contract/schemas/*.json
dossierbus-contract check               # current code against the committed contract/ files
dossierbus-contract check --base main   # ... against the contract as it is on a git ref (for CI)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dossierbus_shared.contract.compat import compare_catalogues
from dossierbus_shared.contract.files import SCHEMAS_DIR, read_schemas, write_contract
from dossierbus_shared.contract.schemas import event_schemas


def default_directory() -> Path:
    """`contract/` of the repository the command runs in (searched upwards), else of the current directory."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "contract").is_dir():
            return folder / "contract"
    return here / "contract"


def published_at(ref: str, directory: Path) -> dict[str, dict[str, Any]]:
    """The committed schemas at a git ref."""
    top = Path(_git(["rev-parse", "--show-toplevel"], directory.parent).strip())
    folder = (directory.resolve() / SCHEMAS_DIR).relative_to(top).as_posix()
    names = _git(["ls-tree", "--name-only", f"{ref}:{folder}"], top).split()
    return {
        Path(name).stem: json.loads(_git(["show", f"{ref}:{folder}/{name}"], top))
        for name in names
        if name.endswith(".json")
    }


def _git(args: list[str], cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"dossierbus-contract: git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def generate(directory: Path) -> int:
    changed = write_contract(directory)
    for line in changed:
        print(line)
    print(f"contract in {directory}: {'updated' if changed else 'already up to date'}")
    return 0


def check(directory: Path, base: str | None) -> int:
    published = published_at(base, directory) if base else read_schemas(directory)
    current = event_schemas()
    problems = compare_catalogues(published, current)
    if problems:
        print("Incompatible changes within a version (publish a new version, .v2, instead):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    added = sorted(set(current) - set(published))
    changed = sorted(name for name in set(current) & set(published) if current[name] != published[name])
    print(f"compatible: {len(published)} published event types checked")
    for name in added:
        print(f"  new event type {name}")
    for name in changed:
        print(f"  compatible change to {name}")
    if added or changed:
        print("run `dossierbus-contract generate` to update the committed contract")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dossierbus-contract", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir", type=Path, help="the contract directory (default: contract/ of the repository)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="write the AsyncAPI document and the JSON Schemas from the code")
    check_parser = commands.add_parser("check", help="refuse incompatible changes to published event schemas")
    check_parser.add_argument("--base", help="compare with the contract committed at this git ref")
    args = parser.parse_args(argv)
    directory: Path = args.dir or default_directory()
    if args.command == "generate":
        return generate(directory)
    return check(directory, args.base)


def run() -> None:
    sys.exit(main())

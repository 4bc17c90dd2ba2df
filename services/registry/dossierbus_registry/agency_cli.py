"""`dossierbus-registry agency ...`: onboard an agency, rotate its credentials, set its result domains,
list the directory.

Talks to a running registry over its API, so an integrator's onboarding never needs code or database
access: only the registry's URL and, for changes, the operators' admin token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx


def add_commands(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--registry-url", default=os.environ.get("REGISTRY_URL", "http://127.0.0.1:8002"), help="registry API"
    )
    common.add_argument(
        "--admin-token", default=os.environ.get("REGISTRY_ADMIN_TOKEN"), help="or REGISTRY_ADMIN_TOKEN"
    )
    agency = commands.add_parser("agency", help="the agency catalogue: add, rotate, list")
    actions = agency.add_subparsers(dest="action", required=True)
    add = actions.add_parser(
        "add", parents=[common], help="onboard an agency: topics created, credentials issued (shown once)"
    )
    add.add_argument("--code", required=True, help="lower-case code naming its topics, e.g. justice-hue")
    add.add_argument("--identifier", required=True, help="unit code under QCVN 102:2016/BTTTT")
    add.add_argument("--name-vi", required=True)
    add.add_argument("--name-en")
    add.add_argument("--sector", required=True, help="e.g. justice, public-security, one-stop")
    add.add_argument("--webhook-url")
    add.add_argument("--public-key", type=Path, help="PEM file of the agency's Ed25519 public key")
    add.add_argument(
        "--handles",
        action="append",
        default=[],
        metavar="PROCEDURE:STEP[@RECEIVING_UNIT]",
        help="a procedure step it handles (repeatable)",
    )
    add.add_argument(
        "--result-domain",
        action="append",
        default=[],
        metavar="HOST",
        help="a host name its result documents are published on, https only (repeatable)",
    )
    rotate = actions.add_parser(
        "rotate", parents=[common], help="issue new credentials; the old ones stop working"
    )
    rotate.add_argument("--code", required=True)
    rotate.add_argument("--public-key", type=Path)
    domains = actions.add_parser(
        "domains", parents=[common], help="set the host names its result documents are published on"
    )
    domains.add_argument("--code", required=True)
    domains.add_argument(
        "--result-domain",
        action="append",
        default=[],
        metavar="HOST",
        help="repeatable; none clears the list",
    )
    actions.add_parser("list", parents=[common], help="the agency directory")


def run(args: argparse.Namespace) -> int:
    with httpx.Client(base_url=args.registry_url, timeout=30) as http:
        try:
            if args.action == "list":
                response = http.get("/agencies")
            elif args.action == "add":
                response = http.post("/agencies", json=_onboarding(args), headers=_admin(args))
            elif args.action == "domains":
                body = {"result_domains": args.result_domain}
                response = http.put(f"/agencies/{args.code}/result-domains", json=body, headers=_admin(args))
            else:
                body = {"public_key": _read_key(args.public_key)}
                response = http.post(f"/agencies/{args.code}/credentials", json=body, headers=_admin(args))
        except httpx.TransportError as error:
            print(
                f"dossierbus-registry: cannot reach the registry at {args.registry_url}: {error}",
                file=sys.stderr,
            )
            return 1
        except _Refused as error:
            print(f"dossierbus-registry: {error}", file=sys.stderr)
            return 1
    if response.is_error:
        print(f"dossierbus-registry: {_problem(response)}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), ensure_ascii=False, indent=2))
    if args.action in ("add", "rotate"):
        print("Keep the credentials above: they are not shown again.", file=sys.stderr)
    return 0


class _Refused(Exception):
    pass


def _admin(args: argparse.Namespace) -> dict[str, str]:
    if not args.admin_token:
        raise _Refused("an admin token is needed: --admin-token or REGISTRY_ADMIN_TOKEN")
    return {"Authorization": f"Bearer {args.admin_token}"}


def _read_key(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text()
    except OSError as error:
        raise _Refused(f"cannot read the public key: {error}") from None


def _onboarding(args: argparse.Namespace) -> dict[str, Any]:
    handles = []
    for item in args.handles:
        step_part, _, unit = item.partition("@")
        procedure, _, step = step_part.partition(":")
        if not procedure or not step:
            raise _Refused(f"--handles {item!r}: expected PROCEDURE:STEP[@RECEIVING_UNIT]")
        handles.append({"procedure_code": procedure, "step": step, "receiving_unit": unit or None})
    name = {"vi": args.name_vi} | ({"en": args.name_en} if args.name_en else {})
    return {
        "code": args.code,
        "identifier": args.identifier,
        "name": name,
        "sector": args.sector,
        "webhook_url": args.webhook_url,
        "public_key": _read_key(args.public_key),
        "handles": handles,
        "result_domains": args.result_domain,
    }


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in body.get("errors", []))
    return f"HTTP {response.status_code} {body.get('title', '')}: {body.get('detail', '')}" + (
        f" ({fields})" if fields else ""
    )

"""`dossierbus up`: the development stack until Ctrl-C. `dossierbus demo`: dossiers end to end, shown.
`dossierbus token --citizen <personal ID>`: a citizen's token from the running stack's OpenID provider.
`dossierbus chaos`: dossiers at a steady rate while every service is killed and PostgreSQL crashes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
import tempfile
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from dossierbus_devstack.chaos import Load, every_service_and_the_database, run_chaos
from dossierbus_devstack.database import DURABILITY_QUERY, describe_durability
from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.identity import citizen_token
from dossierbus_devstack.lifetime import run_until_signalled
from dossierbus_devstack.parts import StackError
from dossierbus_devstack.payment_gateway import order_of
from dossierbus_devstack.scenarios import birth_registration, linked_birth, wait_final, wait_for_notifications
from dossierbus_devstack.services import SERVICES
from dossierbus_devstack.stack import DevStack, Ports, Span

PERSONAL_ID = re.compile(r"[0-9]{12}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dossierbus", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser(
        "up", help="start broker, database, the four services and the console on 9092, 8001-8005"
    )
    defaults = Ports.fixed()
    up_parser.add_argument("--kafka-port", type=int, default=defaults.kafka)
    up_parser.add_argument("--smtp-port", type=int, default=defaults.smtp)
    up_parser.add_argument(
        "--http-port", type=int, default=defaults.services["intake"], help="intake's; the others follow it"
    )
    up_parser.add_argument("--oidc-port", type=int, default=defaults.oidc, help="the local OpenID provider's")
    up_parser.add_argument(
        "--national-portal-port",
        type=int,
        default=defaults.national_portal,
        help="the national portal simulator's (status sync)",
    )
    up_parser.add_argument(
        "--payment-gateway-port",
        type=int,
        default=defaults.payment_gateway,
        help="the payment platform simulator's",
    )
    up_parser.add_argument(
        "--replicas",
        type=replicas_option,
        default={},
        metavar="SERVICE=N,...",
        help="processes per service, e.g. routing=2,notifications=2 (1 each otherwise); the replicas of a "
        "service share its port and its consumer group",
    )
    token = commands.add_parser(
        "token", help="print a citizen's bearer token from the local OpenID provider of `dossierbus up`"
    )
    token.add_argument("--citizen", required=True, metavar="PERSONAL_ID", help="12-digit personal ID")
    token.add_argument(
        "--issuer",
        default=os.environ.get("OIDC_ISSUER", f"http://127.0.0.1:{defaults.oidc}"),
        help="the OpenID provider (OIDC_ISSUER, else %(default)s)",
    )
    demo = commands.add_parser("demo", help="start everything on free ports and run dossiers end to end")
    demo.add_argument(
        "--dossiers", type=int, default=4, help="valid dossiers to submit (one more is refused)"
    )
    chaos = commands.add_parser(
        "chaos",
        help="start a stack on free ports; submit dossiers at a steady rate while every service is killed "
        "(SIGKILL) and restarted and PostgreSQL crashes; print what the bus made of it (exit 1 if it did "
        "not heal)",
    )
    chaos.add_argument("--dossiers", type=int, default=1000, help="how many (default %(default)s)")
    chaos.add_argument("--rate", type=float, default=10, help="dossiers per second (default %(default)s)")
    chaos.add_argument(
        "--outage", type=float, default=30, help="seconds PostgreSQL stays down (default %(default)s)"
    )
    chaos.add_argument(
        "--drain-timeout",
        type=float,
        default=600,
        help="seconds to wait, after the load, for every dossier to end (default %(default)s)",
    )
    chaos.add_argument(
        "--replicas",
        type=replicas_option,
        default={},
        metavar="SERVICE=N,...",
        help="processes per service; the first replica of each is the one killed",
    )
    args = parser.parse_args(argv)
    if args.command == "chaos" and (args.dossiers < 1 or args.rate <= 0 or args.outage < 0):
        parser.error("chaos takes --dossiers of at least 1, a positive --rate and a --outage of 0 or more")
    try:
        if args.command == "up":
            ports = Ports.fixed(
                kafka=args.kafka_port,
                smtp=args.smtp_port,
                http=args.http_port,
                oidc=args.oidc_port,
                national_portal=args.national_portal_port,
                payment_gateway=args.payment_gateway_port,
            )
            run_until_signalled(up(ports, args.replicas))  # a stop signal is how `up` ends: exit 0
        elif args.command == "token":
            if not PERSONAL_ID.fullmatch(args.citizen):
                parser.error("--citizen takes a 12-digit personal ID")
            try:
                print(asyncio.run(citizen_token(args.issuer, args.citizen)))
            except httpx.TransportError as error:
                raise StackError(
                    f"no OpenID provider at {args.issuer} (is `dossierbus up` running?)"
                ) from error
        elif args.command == "chaos":
            healed: list[bool] = []
            stopped_by = run_until_signalled(run_chaos_command(args, healed))
            if stopped_by is not None:
                sys.exit(128 + stopped_by)
            sys.exit(0 if all(healed) else 1)
        elif (stopped_by := run_until_signalled(run_demo(args.dossiers))) is not None:
            sys.exit(128 + stopped_by)
    except StackError as error:
        print(f"dossierbus: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


def replicas_option(text: str) -> dict[str, int]:
    """`routing=2,notifications=2` as {"routing": 2, "notifications": 2}."""
    counts: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, equals, count = item.partition("=")
        if not name.strip() or not equals or not count.strip().isdigit():
            raise argparse.ArgumentTypeError(f"{item!r} is not SERVICE=N (e.g. routing=2)")
        counts[name.strip()] = int(count)
    return counts


async def up(ports: Ports, replicas: dict[str, int]) -> None:
    """Until a stop signal (lifetime.py) cancels it."""
    print("dossierbus: starting broker, database, SMTP sink, services and reference agencies ...", flush=True)
    async with DevStack(ports, spans_file=kept_spans_file(), replicas=replicas) as stack:
        print(describe(stack), flush=True)
        print("Ctrl-C stops everything.", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            print(f"dossierbus: stopping; the spans stay in {stack.spans_file}", flush=True)


def kept_spans_file() -> Path:
    """A spans file outside the stack's temporary folder, so the traces can be read after it stops."""
    folder = Path(os.environ.get("DOSSIERBUS_SPANS_DIR") or Path(tempfile.gettempdir()) / "dossierbus-spans")
    return folder / f"spans-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.jsonl"


async def run_demo(count: int) -> None:
    print(
        "dossierbus demo: starting broker, database, SMTP sink, the four services and the reference agencies"
    )
    async with DevStack() as stack, httpx.AsyncClient(timeout=30, headers=stack.headers("portal")) as http:
        print(describe(stack), "\n", flush=True)
        bodies = [birth_registration(index, email=f"citizen{index}@example.vn") for index in range(count)]
        impostor = birth_registration(count, email="impostor@example.vn")
        impostor["applicant"]["full_name"] = "Trần Văn Giả"  # does not match the population database
        # The linked birth group: justice first, then police and social insurance in parallel; the
        # health insurance card is refused, which ends that step alone.
        linked = linked_birth(count + 1, "Bệnh viện Phụ sản Hà Nội [social-insurance-hanoi: rejects]")
        # The justice office asks for a week more (form 04): a new appointment and the apology letter.
        extended = birth_registration(count + 2, email="extended@example.vn")
        extended["form"]["place_of_birth"] = "Bệnh viện Phụ sản Hà Nội [justice-hanoi: extends]"
        # It asks for a supplement within a working day, which never comes: routing refuses the dossier.
        lapsed = birth_registration(count + 3, email="lapsed@example.vn")
        lapsed["form"]["place_of_birth"] = (
            "Bệnh viện Phụ sản Hà Nội [justice-hanoi: asks for a supplement within a day]"
        )
        # Permanent residence has a fee: the dossier waits until its applicant pays it online.
        paying = birth_registration(count + 4, email="paying@example.vn")
        paying.update(
            procedure_code="1.004194",
            form={"new_address": "Số 9, phường Hoàn Kiếm, Hà Nội", "residence_basis": "owned_home"},
        )
        codes = []
        for body in [*bodies, impostor, linked, extended, lapsed, paying]:
            response = await http.post(
                stack.url("intake", "/dossiers"),
                json=body,
                headers={"Idempotency-Key": f"demo-{uuid.uuid4()}"},
            )
            response.raise_for_status()
            receipt = response.json()
            codes.append(receipt["dossier_code"])
            print(
                f"submitted {receipt['dossier_code']}  ({body['applicant']['full_name']}) "
                f"-> 202, appointment {receipt['appointment_date']}"
            )
        print()
        outcomes: Counter[str] = Counter()
        await pay_online(http, stack, codes[-1], paying["applicant"]["personal_id"])
        await let_the_supplement_lapse(http, stack, codes[-2])
        for code in codes:
            dossier = await wait_final(http, stack, code)
            outcomes[dossier["status"]] += 1
            expected = 4 if dossier["status"] == "returned" else 2
            expected += sum(entry["event"] == "deadline-extended" for entry in dossier["timeline"])
            expected += 2 if (dossier.get("payment") or {}).get("state") == "paid" else 0  # fees due, receipt
            notifications = await wait_for_notifications(http, stack, code, count=expected)
            spans = await stack.spans_for(
                code, until=lambda found: {"routing", "notifications"} <= services_of(found)
            )
            # Status to the national portal follows, one change of a dossier per round of its relay: what
            # its simulator took once routing has none of the dossier's changes left to send.
            await portal_synced(http, stack, code)
            taken = [item["payload"]["TrangThaiHoSo"] for item in await stack.national_portal.received(code)]
            portal = f"   national portal took status codes {', '.join(map(str, taken)) or '(none yet)'}\n"
            print(render(dossier, notifications, spans) + portal)
        summary = ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items()))
        print(
            f"{len(codes)} dossiers: {summary}; {len(stack.mail.messages)} emails delivered to the SMTP sink"
        )


async def portal_synced(http: httpx.AsyncClient, stack: DevStack, code: str) -> None:
    """Until routing has sent the national portal every change of the dossier (or 30 s have passed)."""

    async def nothing_pending() -> None:
        response = await http.get(
            stack.url("routing", f"/dossiers/{code}/portal-sync"), headers=stack.headers("operator")
        )
        response.raise_for_status()
        assert all(change["state"] != "pending" for change in response.json()["changes"])

    with contextlib.suppress(AssertionError):  # shown as far as it got
        await eventually(nothing_pending, timeout_s=30)


async def pay_online(http: httpx.AsyncClient, stack: DevStack, code: str, personal_id: str) -> None:
    """The applicant, signed in with the eID, opens the payment of the dossier's fees at intake and pays
    at the payment platform (its simulator); the platform's signed callback tells intake."""
    applicant = {"Authorization": f"Bearer {await stack.citizen_token(personal_id)}"}

    async def owed() -> dict[str, Any]:
        response = await http.get(stack.url("intake", f"/dossiers/{code}/payment"), headers=applicant)
        assert response.status_code == 200, response.text
        payment: dict[str, Any] = response.json()
        return payment

    payment = await eventually(owed, timeout_s=60)
    opened = await http.post(stack.url("intake", f"/dossiers/{code}/payment"), headers=applicant)
    opened.raise_for_status()
    await stack.payment_gateway.pay(order_of(opened.json()["pay_url"]))
    amount = f"{payment['amount_vnd']:,} VND"
    print(f"{code}: fees of {amount} due; the applicant paid them at the payment platform\n")


async def let_the_supplement_lapse(http: httpx.AsyncClient, stack: DevStack, code: str) -> None:
    """Once the agency asked for the supplement, its last day is moved to yesterday, as a working day
    passing without it would: routing's deadline watch then refuses the dossier."""

    async def asked() -> None:
        response = await http.get(stack.url("routing", f"/dossiers/{code}"))
        assert response.json()["status"] == "supplement_requested", response.text

    await eventually(asked, timeout_s=60)
    step = (
        "SELECT s.dossier_id, s.step, s.supplement_due_date FROM routing.steps s"
        " JOIN routing.dossiers d ON d.id = s.dossier_id"
        " WHERE d.code = $1 AND s.supplement_due_date IS NOT NULL"
    )
    async with stack.database() as db:
        dossier_id, step_name, last_day = await db.fetchrow(step, code)
        await db.execute(
            "UPDATE routing.steps SET supplement_due_date = current_date - 1"
            " WHERE dossier_id = $1 AND step = $2",
            dossier_id,
            step_name,
        )
    print(f"{code}: no supplement sent; the demo moves its last day to yesterday (it was {last_day})\n")


async def run_chaos_command(args: argparse.Namespace, healed: list[bool]) -> None:
    load_s = args.dossiers / args.rate
    print(f"dossierbus chaos: {args.dossiers} dossiers at {args.rate:g}/s; starting a stack ...", flush=True)
    async with DevStack(replicas=args.replicas) as stack:
        faults = every_service_and_the_database(SERVICES, load_s, args.outage, stack.replica_counts)
        load = Load(stack, args.dossiers, args.rate)
        figures = await run_chaos(stack, load, faults, drain_timeout_s=args.drain_timeout, report=True)
        async with stack.database() as db:
            durability = describe_durability(await db.fetchrow(DURABILITY_QUERY))
    print(f"PostgreSQL                      {durability}")
    print("\n".join(figures.lines()), flush=True)
    healed.append(figures.healed)


def describe(stack: DevStack) -> str:
    lines = [
        f"  broker      {stack.kafka_bootstrap}",
        f"  database    {stack.database_url}",
        f"  smtp sink   127.0.0.1:{stack.ports.smtp}",
    ]
    for name, replicas in stack.replicas.items():
        lines.append(f"  {name:<11} {replicas[0].url()}")
        if len(replicas) > 1:
            own = ", ".join(f"{replica.label} {replica.own_url()}" for replica in replicas)
            lines.append(f"  {'':<11} {len(replicas)} replicas: {own}")
    lines.append(
        f"  openid      {stack.identity.issuer}  (citizens: dossierbus token --citizen <personal ID>)"
    )
    lines.append(
        f"  citizen page {stack.url('intake', '/citizen')}  (sign in: `dossierbus token --citizen <personal"
        " ID>` once, then pick citizen-<personal ID> on the provider's page; docs/citizen-view.md)"
    )
    lines.append(
        f"  national portal {stack.national_portal.sync_url}  (simulator of the status sync; what it took:"
        f" {stack.national_portal.url}/control/received)"
    )
    lines.append(
        f"  payment platform {stack.payment_gateway.api_url}  (simulator; its orders:"
        f" {stack.payment_gateway.url}/control/orders)"
    )
    lines.append(f"  portal token   {stack.portal_token}  (PORTAL_TOKEN)")
    lines.append(f"  operator token {stack.operator_token}  (OPERATOR_TOKEN; also the console login)")
    lines.append(f"  auditor token  {stack.auditor_token}  (AUDITOR_TOKEN)")
    lines.append(f"  logs        {stack.workdir / 'logs'}")
    lines.append(f"  spans       {stack.spans_file}  (SPANS_FILE; the console's trace view reads it)")
    lines.append(f"  admin token {stack.admin_token}  (registry onboarding: REGISTRY_ADMIN_TOKEN)")
    lines.append(
        f"  access-log key {stack.access_log_key}  (dossierbus-registry access-log verify: ACCESS_LOG_KEY)"
    )
    return "\n".join(lines)


def render(dossier: dict[str, Any], notifications: list[dict[str, Any]], spans: list[Span]) -> str:
    out = [
        f"── {dossier['dossier_code']}  {dossier['status'].upper()}  (agency {dossier['agency_code'] or '-'})"
    ]
    for entry in dossier["timeline"]:
        at = datetime.fromisoformat(entry["at"]).strftime("%H:%M:%S.%f")[:-3]
        where = entry["agency_code"] or "routing"
        step = (entry["step"] if entry["event"] != "status-changed" else None) or ""
        note = f"  {entry['note']}" if entry["note"] else ""
        line = f"   {at}  {entry['event']:<15} {entry['status'] or '':<20} {where:<23}{step:<22}{note}"
        out.append(line.rstrip())
    for notification in notifications:
        out.append(f"   notification {notification['status']:<10} {notification['subject']}")
    if spans:
        first = min(span["start_ns"] for span in spans)
        last = max(span["end_ns"] for span in spans)
        hops = Counter(str(span["service"]).removeprefix("dossierbus-") for span in spans)
        per_service = ", ".join(f"{name} {n}" for name, n in sorted(hops.items()))
        out.append(
            f"   trace {spans[0]['trace_id']}: {len(spans)} spans in {(last - first) / 1e6:.0f} ms "
            f"({per_service})"
        )
    return "\n".join(out) + "\n"


def services_of(spans: list[Span]) -> set[str]:
    return {str(span["service"]).removeprefix("dossierbus-") for span in spans}


if __name__ == "__main__":
    main()

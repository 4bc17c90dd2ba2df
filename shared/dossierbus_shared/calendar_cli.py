"""`dossierbus-calendar`: when is a dossier due, and which days are not working days.

dossierbus-calendar due --received 2027-02-03T09:00+07:00 --working-days 5
dossierbus-calendar due --received 2027-02-03T09:00+07:00 --procedure 1.001193 [--channel online]
dossierbus-calendar days --year 2027
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime

from dossierbus_shared.calendar import TimeLimit, WorkingCalendar, vietnam_calendar
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import Channel


def _received(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date and time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the offset, e.g. {text}+07:00: a time alone is ambiguous")
    return moment


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dossierbus-calendar", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    due = commands.add_parser("due", help="the due date of a dossier received at a given time")
    due.add_argument("--received", required=True, type=_received, help="e.g. 2027-02-03T09:00+07:00")
    due.add_argument("--working-days", type=int, help="a limit of whole working days (0: the same day)")
    due.add_argument(
        "--procedure",
        help="a procedure code of the catalogue: its time limit for the channel; with --working-days, "
        "that many working days with the procedure's cut-off time",
    )
    due.add_argument(
        "--channel", choices=[channel.value for channel in Channel], default=Channel.DIRECT.value
    )
    due.add_argument("--json", action="store_true", help="print JSON")
    days = commands.add_parser("days", help="the non-working days of a year, with their source")
    days.add_argument("--year", type=int, required=True)
    days.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _limit(args: argparse.Namespace) -> TimeLimit:
    if args.working_days is None and args.procedure is None:
        raise SystemExit("dossierbus-calendar: give --working-days, --procedure, or both")
    if args.working_days is not None and args.working_days < 0:
        raise SystemExit("dossierbus-calendar: --working-days must not be negative")
    if args.procedure is None:
        return TimeLimit(amount=args.working_days)
    procedure = default_catalogue().procedure(args.procedure)
    if procedure is None:
        known = ", ".join(sorted(default_catalogue().procedures))
        raise SystemExit(f"dossierbus-calendar: no procedure {args.procedure!r} (known: {known})")
    limit = procedure.limit_for(Channel(args.channel))
    if args.working_days is None:
        return limit
    return TimeLimit(amount=args.working_days, cutoff=limit.cutoff, basis=limit.basis)


def due(calendar: WorkingCalendar, args: argparse.Namespace) -> int:
    limit = _limit(args)
    deadline = calendar.deadline(args.received, limit)
    if args.json:
        print(
            json.dumps(
                {
                    "due_date": deadline.due_date.isoformat(),
                    "due_at": deadline.due_at.isoformat() if deadline.due_at else None,
                    "clock_start": deadline.clock_start.isoformat(),
                    "deadline_provisional": deadline.provisional,
                    "unannounced_years": list(deadline.unannounced_years),
                    "limit": limit.describe(),
                }
            )
        )
        return 0
    print(f"due {deadline.due_date.isoformat()} ({deadline.due_date:%A})")
    if deadline.due_at:
        print(f"at {deadline.due_at.isoformat()}")
    print(f"limit: {limit.describe()}; clock starts {deadline.clock_start.isoformat()}")
    print(deadline.explain())
    return 0


def days(calendar: WorkingCalendar, year: int, as_json: bool) -> int:
    off = calendar.days_off(year)
    working = calendar.make_up_working_days(year)
    status = (
        "announced" if calendar.is_announced(year) else "provisional (not announced: statutory rules only)"
    )
    if as_json:
        print(
            json.dumps(
                {
                    "year": year,
                    "announced": calendar.is_announced(year),
                    "days_off": [
                        {"date": d.isoformat(), "name": x.name, "source": x.source} for d, x in off.items()
                    ],
                    "make_up_working_days": [
                        {"date": d.isoformat(), "name": x.name, "source": x.source}
                        for d, x in working.items()
                    ],
                },
                ensure_ascii=False,
            )
        )
        return 0
    print(f"{year}: {status}; besides Saturdays and Sundays:")
    for day, entry in off.items():
        print(f"  {day.isoformat()} {day:%a}  off      {entry.name}  [{entry.source}]")
    for day, entry in working.items():
        print(f"  {day.isoformat()} {day:%a}  working  {entry.name}  [{entry.source}]")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    calendar = vietnam_calendar()
    if args.command == "due":
        return due(calendar, args)
    if args.year < 1995 or args.year > 2100:
        raise SystemExit("dossierbus-calendar: --year must be between 1995 and 2100")
    return days(calendar, args.year, args.json)


if __name__ == "__main__":
    sys.exit(main())

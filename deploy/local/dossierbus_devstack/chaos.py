"""Faults under load, and what the bus made of them: `dossierbus chaos` prints the figures, the chaos and
replica tests assert on them.

A steady load of birth-registration dossiers arrives as a portal sends it: one every 1/rate seconds, each
retried with its own Idempotency-Key until intake answers (a refused connection, or 503 while the
database is away, is tried again). Meanwhile faults strike: a service replica killed with SIGKILL and
started again, as a supervisor restarts a crashed process (until it starts: not while its database is
away), and PostgreSQL stopped at once, as in a crash, then started again. After that nothing is done but
wait: every accepted dossier must become final and every e-mail be sent without an operator.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from dossierbus_devstack.parts import StackError
from dossierbus_devstack.scenarios import FINAL, birth_registration
from dossierbus_devstack.stack import DevStack
from dossierbus_notifications.settings import NotificationsSettings
from dossierbus_shared.db.roles import SERVICES_WITH_DATABASE
from dossierbus_shared.kafka import DLQ_SUFFIX

EMAILS_PER_DOSSIER = 4
"""A returned birth registration: receipt, processing, result ready, returned."""

DELIVERY_LANES: int = NotificationsSettings.model_fields["delivery_concurrency"].default
"""The stack's notifications send this many messages at once: one may be in flight in each."""

RETRY_S = 0.5
"""How long the load waits before sending an unanswered submission again."""


@dataclass(frozen=True)
class Kill:
    """kill -9 of one replica of a service `at_s` seconds into the load, then started again."""

    service: str
    at_s: float
    replica: int = 0

    def __str__(self) -> str:
        label = self.service if self.replica == 0 else f"{self.service}-{self.replica}"
        return f"kill -9 {label} at {self.at_s:.0f} s"


@dataclass(frozen=True)
class DatabaseCrash:
    """PostgreSQL stopped at once `at_s` seconds into the load, started again `for_s` later."""

    at_s: float
    for_s: float

    def __str__(self) -> str:
        return f"PostgreSQL crashed at {self.at_s:.0f} s for {self.for_s:.0f} s"


Fault = Kill | DatabaseCrash


def every_service_and_the_database(
    services: Sequence[str], load_s: float, outage_s: float, replicas: Mapping[str, int] | None = None
) -> list[Fault]:
    """Each service killed once, one after the other over the first two thirds of the load, and a
    database crash in between. Of a service with `replicas`, the first replica or the second, in turn from
    one service to the next: the others carry on meanwhile."""
    counts = replicas or {}
    step = load_s * 2 / 3 / (len(services) + 1)
    faults: list[Fault] = [
        Kill(name, at_s=step * (i + 1), replica=i % counts.get(name, 1)) for i, name in enumerate(services)
    ]
    faults.insert(len(services) // 2, DatabaseCrash(at_s=step * (len(services) // 2 + 0.5), for_s=outage_s))
    return faults


@dataclass
class Load:
    """`dossiers` submissions at `rate` per second; `accepted` holds the codes intake answered 202."""

    stack: DevStack
    dossiers: int
    rate: float
    accepted: list[str] = field(default_factory=list)
    server_errors: int = 0
    """Answers 500 and above other than 503: a submission should be accepted, or asked to wait."""

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=30, headers=self.stack.headers("portal")) as http:
            started = time.monotonic()
            sending = []
            for index in range(self.dossiers):
                await asyncio.sleep(max(0.0, started + index / self.rate - time.monotonic()))
                sending.append(asyncio.create_task(self._submit(http, index)))
            await asyncio.gather(*sending)

    async def _submit(self, http: httpx.AsyncClient, index: int) -> None:
        key = f"chaos-{uuid.uuid4()}"
        while True:
            try:
                response = await http.post(
                    self.stack.url("intake", "/dossiers"),
                    json=birth_registration(index, email=f"chaos{index}@example.vn"),
                    headers={"Idempotency-Key": key},
                )
            except httpx.TransportError:  # intake killed, or restarting
                await asyncio.sleep(RETRY_S)
                continue
            if response.status_code == 202:
                self.accepted.append(str(response.json()["dossier_code"]))
                return
            if response.status_code < 500:
                raise StackError(f"a valid submission was refused: {response.status_code} {response.text}")
            if response.status_code != 503:
                self.server_errors += 1
            await asyncio.sleep(RETRY_S)


async def strike(stack: DevStack, faults: Sequence[Fault], started: float) -> None:
    """Each fault at its time, counted from the monotonic `started`; returns once all have healed."""

    async def one(fault: Fault) -> None:
        await asyncio.sleep(max(0.0, started + fault.at_s - time.monotonic()))
        if isinstance(fault, Kill):
            stack.kill(fault.service, fault.replica)
            await restart(stack, fault.service, fault.replica)
        else:
            await asyncio.to_thread(stack.stop_database, crash=True)
            await asyncio.sleep(fault.for_s)
            await stack.start_database()

    await asyncio.gather(*(one(fault) for fault in faults))


async def restart(stack: DevStack, service: str, replica: int, attempts: int = 60) -> None:
    """Start a killed replica again, as often as it takes (it exits while its database is away)."""
    for attempt in range(attempts):
        try:
            await stack.start(service, replica)
            return
        except StackError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(1)


@dataclass
class Figures:
    """What the bus made of a run; `healed` when every accepted dossier ended once and nothing more."""

    submitted: int
    accepted: int
    server_errors: int
    final: int
    not_final: list[str]
    timeline_repeats: int
    """Timeline entries applied more than once (same dossier, event, status, step and agency)."""
    out_of_order: int
    """Dossiers whose status changes were applied in another order than accepted, processing,
    result_ready, returned."""
    verification_repeats: int
    access_log_repeats: int
    dead_letters: int
    unsent_events: int
    """Outbox rows of every service not yet published."""
    emails_expected: int
    emails_delivered: int
    emails_repeated: int
    """Messages the SMTP sink received more than once (same Message-ID): each can only be one that was
    in flight when the dispatcher was killed or lost its database."""
    in_flight_allowance: int
    drained_s: float | None
    """From the last acceptance to every dossier final and every e-mail delivered; None if not within
    the wait."""

    @property
    def healed(self) -> bool:
        return (
            self.final == self.accepted
            and self.server_errors == 0
            and self.timeline_repeats == self.out_of_order == 0
            and self.verification_repeats == self.access_log_repeats == 0
            and self.dead_letters == self.unsent_events == 0
            and self.emails_delivered == self.emails_expected
            and self.emails_repeated <= self.in_flight_allowance
            and self.drained_s is not None
        )

    def lines(self) -> list[str]:
        drained = "not within the wait" if self.drained_s is None else f"{self.drained_s:.1f} s"
        waiting = f" (not final: {', '.join(self.not_final[:5])}{' ...' if len(self.not_final) > 5 else ''})"
        return [
            f"dossiers submitted / accepted   {self.submitted} / {self.accepted}"
            f"   answers 500: {self.server_errors}",
            f"final without an operator       {self.final} of {self.accepted}"
            + (waiting if self.not_final else ""),
            f"timeline entries applied twice  {self.timeline_repeats}"
            f"   dossiers out of order: {self.out_of_order}",
            f"verified twice                  {self.verification_repeats}"
            f"   access-log entries twice: {self.access_log_repeats}",
            f"dead letters                    {self.dead_letters}   events left unsent: {self.unsent_events}",
            f"e-mails delivered               {self.emails_delivered} of {self.emails_expected}"
            f"   sent twice: {self.emails_repeated} (at most {self.in_flight_allowance} in flight)",
            f"drained after the load in       {drained}",
            f"healed                          {'yes' if self.healed else 'NO'}",
        ]


async def dead_letter_count(bootstrap: str) -> int:
    """Records held in every dead-letter topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic in await consumer.topics()
            if topic.endswith(DLQ_SUFFIX)
            for partition in consumer.partitions_for_topic(topic) or ()
        ]
        if not partitions:
            return 0
        ends = await consumer.end_offsets(partitions)
        beginnings = await consumer.beginning_offsets(partitions)
        return sum(ends[partition] - beginnings[partition] for partition in partitions)
    finally:
        await consumer.stop()


async def wait_drained(stack: DevStack, codes: Sequence[str], timeout_s: float, report: bool) -> bool:
    """Until every dossier is final and every one of its e-mails delivered, at most `timeout_s`; with
    `report`, how far it is every 10 s."""
    deadline = time.monotonic() + timeout_s
    reported = time.monotonic()
    async with stack.database() as db:
        while time.monotonic() < deadline:
            final = await db.fetchval(
                "SELECT count(*) FROM routing.dossiers WHERE code = ANY($1) AND status = ANY($2)",
                codes,
                sorted(FINAL),
            )
            delivered = await db.fetchval(
                """SELECT count(*) FROM notifications.notifications
                   WHERE dossier_code = ANY($1) AND channel = 'email' AND status = 'delivered'""",
                codes,
            )
            if final == len(codes) and delivered >= EMAILS_PER_DOSSIER * len(codes):
                return True
            if report and time.monotonic() - reported >= 10:
                reported = time.monotonic()
                expected = EMAILS_PER_DOSSIER * len(codes)
                print(f"  final {final} of {len(codes)}, e-mails {delivered} of {expected}", flush=True)
            await asyncio.sleep(0.5)
    return False


async def measure(
    stack: DevStack, load: Load, faults: Sequence[Fault], dead_letters_before: int, drained_s: float | None
) -> Figures:
    codes = load.accepted
    async with stack.database() as db:
        final = await db.fetch(
            "SELECT code FROM routing.dossiers WHERE code = ANY($1) AND status = ANY($2)",
            codes,
            sorted(FINAL),
        )
        timeline_repeats = await db.fetchval(
            """SELECT coalesce(sum(times - 1), 0) FROM (
                 SELECT count(*) AS times
                 FROM routing.timeline t JOIN routing.dossiers d ON d.id = t.dossier_id
                 WHERE d.code = ANY($1) AND t.outcome = 'applied'
                 GROUP BY t.dossier_id, t.event, t.status, t.step, t.agency_code) entries""",
            codes,
        )
        out_of_order = await db.fetchval(
            """SELECT count(*) FROM (
                 SELECT array_agg(t.status ORDER BY t.id) AS statuses
                 FROM routing.timeline t JOIN routing.dossiers d ON d.id = t.dossier_id
                 WHERE d.code = ANY($1) AND t.event = 'status-changed' AND t.outcome = 'applied'
                 GROUP BY t.dossier_id) changes
               WHERE statuses <> ARRAY['accepted', 'processing', 'result_ready', 'returned']""",
            codes,
        )
        verification_repeats = await db.fetchval(
            """SELECT coalesce(sum(times - 1), 0) FROM (
                 SELECT count(*) AS times FROM registry.outbox
                 WHERE subject = ANY($1) AND topic = 'dossier.verified' GROUP BY subject) verified""",
            codes,
        )
        access_log_repeats = await db.fetchval(
            """SELECT coalesce(sum(times - 1), 0) FROM (
                 SELECT count(*) AS times FROM registry.access_log
                 WHERE dossier_code = ANY($1) AND agency_code = 'registry' GROUP BY dossier_code) logged""",
            codes,
        )
        delivered = await db.fetchval(
            """SELECT count(*) FROM notifications.notifications
               WHERE dossier_code = ANY($1) AND channel = 'email' AND status = 'delivered'""",
            codes,
        )
        unsent = [
            await db.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL")
            for schema in SERVICES_WITH_DATABASE
        ]
    ours = set(codes)
    message_ids = Counter(
        str(message["Message-ID"])
        for message in stack.mail.messages
        if str(message["Subject"]).removeprefix("[").split("]", 1)[0] in ours
    )
    # Each interruption of the dispatcher may repeat the message in flight in each of its lanes.
    interruptions = sum(
        1 for fault in faults if isinstance(fault, DatabaseCrash) or fault.service == "notifications"
    )
    finished = {row["code"] for row in final}
    return Figures(
        submitted=load.dossiers,
        accepted=len(codes),
        server_errors=load.server_errors,
        final=len(finished),
        not_final=sorted(ours - finished),
        timeline_repeats=timeline_repeats,
        out_of_order=out_of_order,
        verification_repeats=verification_repeats,
        access_log_repeats=access_log_repeats,
        dead_letters=await dead_letter_count(stack.kafka_bootstrap) - dead_letters_before,
        unsent_events=sum(unsent),
        emails_expected=EMAILS_PER_DOSSIER * len(codes),
        emails_delivered=delivered,
        emails_repeated=sum(times - 1 for times in message_ids.values()),
        in_flight_allowance=interruptions * DELIVERY_LANES,
        drained_s=drained_s,
    )


async def run_chaos(
    stack: DevStack, load: Load, faults: Sequence[Fault], *, drain_timeout_s: float, report: bool = False
) -> Figures:
    """The load with the faults striking meanwhile, then the wait for the bus to drain; the figures."""
    dead_letters_before = await dead_letter_count(stack.kafka_bootstrap)
    started = time.monotonic()
    if report:
        for fault in faults:
            print(f"  {fault}", flush=True)
    await asyncio.gather(load.run(), strike(stack, faults, started))
    loaded = time.monotonic()
    if report:
        print(f"load sent, every fault healed, in {loaded - started:.0f} s; the bus drains ...", flush=True)
    drained = await wait_drained(stack, load.accepted, drain_timeout_s, report)
    drained_s = time.monotonic() - loaded if drained else None
    return await measure(stack, load, faults, dead_letters_before, drained_s)

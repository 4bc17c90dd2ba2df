"""DevStack: broker, database, SMTP sink, the services, the console, the reference agencies and the
simulators of the national portal and of the payment platform, as one unit.

    async with DevStack() as stack:          # free loopback ports; Ports.fixed() for 9092, 1025, 8001-8005
        stack.url("intake", "/dossiers")

    async with DevStack(replicas={"routing": 2}) as stack:   # two routing processes, one consumer group
        stack.kill("routing", replica=1)

A broker or database given by KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL (or the constructor) is used as it
is; otherwise Tansu and embedded PostgreSQL start in a throw-away directory and vanish on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncpg
import httpx

from dossierbus_devstack.broker import TansuBroker
from dossierbus_devstack.database import EmbeddedPostgres, asyncpg_dsn, provision_service_roles
from dossierbus_devstack.identity import AUDIENCE as IDENTITY_AUDIENCE
from dossierbus_devstack.identity import PERSONAL_ID_CLAIM, LocalIdentityProvider
from dossierbus_devstack.mail import MailSink
from dossierbus_devstack.national_portal import NationalPortalSimulator
from dossierbus_devstack.parts import StackError, claim_port, free_port
from dossierbus_devstack.payment_gateway import PaymentGatewaySimulator
from dossierbus_devstack.services import SERVICES, ServiceProcess
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import FIXED_TOPICS, agency_topics
from dossierbus_shared.kafka import ensure_topics, with_dlq
from reference_agency.agency import DEFAULT_STEPS, result_host, run_agency

log = logging.getLogger("dossierbus.devstack")

Span = dict[str, Any]

SEEDED_CITIZENS = 1000
"""The stack seeds the reference population database with this many synthetic citizens."""


@dataclass(frozen=True)
class Ports:
    kafka: int
    smtp: int
    services: dict[str, int] = field(default_factory=dict)
    oidc: int = 0
    """The local OpenID provider (the citizens' eID); 0 picks a free port."""
    national_portal: int = 0
    """The national public service portal's simulator (status sync); 0 picks a free port."""
    payment_gateway: int = 0
    """The national payment platform's simulator; 0 picks a free port."""

    @classmethod
    def fixed(
        cls,
        kafka: int = 9092,
        smtp: int = 1025,
        http: int = 8001,
        oidc: int = 9400,
        national_portal: int = 9401,
        payment_gateway: int = 9402,
    ) -> Ports:
        """The ports README and docker-compose.yml document; the services' ports follow `http`."""
        services = {name: http + i for i, name in enumerate(SERVICES)}
        return cls(
            kafka=kafka,
            smtp=smtp,
            services=services,
            oidc=oidc,
            national_portal=national_portal,
            payment_gateway=payment_gateway,
        )

    @classmethod
    def free(cls) -> Ports:
        services = {name: free_port() for name in SERVICES}
        return cls(
            kafka=free_port(),
            smtp=free_port(),
            services=services,
            oidc=free_port(),
            national_portal=free_port(),
            payment_gateway=free_port(),
        )


OTHER_RECEIVING_UNITS = ["000.00.01.H48"]
"""Intake serves a Da Nang one-stop unit besides its Hanoi default, for agencies onboarded per unit."""


class DevStack:
    def __init__(
        self,
        ports: Ports | None = None,
        *,
        kafka_bootstrap: str | None = None,
        database_url: str | None = None,
        seed_citizens: int = SEEDED_CITIZENS,
        agencies: bool = True,
        agency_steps: Mapping[str, Sequence[str]] | None = None,
        spans_file: Path | None = None,
        replicas: Mapping[str, int] | None = None,
    ) -> None:
        self.ports = ports or Ports.free()
        self.replica_counts = replica_counts(replicas or {})
        """How many processes of each service run (1 unless given), each a member of its consumer group."""
        self.topic_partitions = max(2, *self.replica_counts.values())
        """Partitions of each topic the stack and its services create (KAFKA_TOPIC_PARTITIONS): one for each
        replica of the largest group, and no more, since Tansu reads every partition a fetch names."""
        self.kafka_bootstrap = kafka_bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or ""
        self.database_url = database_url or os.environ.get("DATABASE_URL") or ""
        self.seed_citizens = seed_citizens
        self.run_agencies = agencies
        self.agency_steps = dict(agency_steps or {})
        """Statuses a reference agency reports, per agency code; the reference agency's default otherwise."""
        self.admin_token = secrets.token_hex(24)
        """The registry's admin token, for onboarding agencies."""
        self.access_log_key = secrets.token_hex(32)
        """The key of the registry's access-log chain (`dossierbus-registry access-log verify` needs it)."""
        self.webhook_secrets_token = secrets.token_hex(24)
        """What notifications reads agencies' webhook secrets from the registry with (and nothing else)."""
        self.portal_token = secrets.token_hex(24)
        """The one-stop portal's bearer token (PORTAL_TOKEN): submissions and acting at the desk."""
        self.operator_token = secrets.token_hex(24)
        """Operators' bearer token (OPERATOR_TOKEN): console login, deliveries, requeue, any dossier."""
        self.auditor_token = secrets.token_hex(24)
        """Auditors' bearer token (AUDITOR_TOKEN)."""
        self.workdir = Path(tempfile.mkdtemp(prefix="dossierbus-"))
        self.spans_file = spans_file or self.workdir / "spans.jsonl"
        """Where every service writes its finished spans (SPANS_FILE) and the console reads them; one given
        here outlives the stack, the default goes with its temporary folder."""
        self.mail = MailSink(self.ports.smtp)
        self.identity = LocalIdentityProvider(
            self.ports.oidc or free_port(), self.workdir / "logs" / "oidc-provider.log"
        )
        self.national_portal = NationalPortalSimulator(
            self.ports.national_portal or free_port(),
            secrets.token_hex(24),
            self.workdir / "logs" / "portal-simulator.log",
        )
        """The national portal's status-sync API, which routing tells every status change."""
        self.payment_gateway = PaymentGatewaySimulator(
            self.ports.payment_gateway or free_port(),
            "DOSSIERBUS-DEV",
            secrets.token_hex(24),
            self.workdir / "logs" / "payment-simulator.log",
        )
        """The national payment platform, where intake opens dossiers' payments and citizens pay them."""
        self.replicas: dict[str, list[ServiceProcess]] = {}
        """Each service's processes, the first at index 0."""
        self._broker: TansuBroker | None = None
        self._database: EmbeddedPostgres | None = None
        self.database_roles: dict[str, dict[str, str]] = {}
        """Per service, the DATABASE_URL (its own role) and DATABASE_MIGRATION_URL (its schema's owner)."""
        self.agency_credentials: dict[str, dict[str, str]] = {}
        """What the registry issued each catalogue agency at start: API token, webhook secret, private key.
        Use these rather than issuing new ones: the running reference agency keeps signing with its key."""
        self._agencies: list[asyncio.Task[None]] = []
        self._agencies_stop = asyncio.Event()

    async def __aenter__(self) -> DevStack:
        try:
            await self.start_all()
        except BaseException:
            await self.stop_all()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_all()

    async def start_all(self) -> None:
        if not self.kafka_bootstrap:
            # Before the database is made (initdb runs beside the broker's start): a taken broker port is
            # reported with nothing started.
            claim_port(self.ports.kafka, "the Kafka broker")
        await asyncio.gather(self._start_broker(), self._start_database())
        await self.identity.start()  # after the broker, so a taken broker port is the error reported
        await self.national_portal.start()
        await self.payment_gateway.start()
        self.mail.start()
        await ensure_topics(
            self.kafka_bootstrap,
            with_dlq([*FIXED_TOPICS, *self.agency_topics()]),
            partitions=self.topic_partitions,
        )
        # No DATABASE_URL here: each service with a database gets its own role's (below), never a superuser's.
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "SPANS_FILE": str(self.spans_file),
            "SMTP_PORT": str(self.ports.smtp),
            "SEED_CITIZENS": str(self.seed_citizens),
            "REGISTRY_URL": f"http://127.0.0.1:{self.ports.services['registry']}",
            # An agency onboarded while the stack runs gets dossiers within seconds.
            "DIRECTORY_REFRESH_S": "2",
            "KAFKA_METADATA_MAX_AGE_MS": "2000",
            "KAFKA_TOPIC_PARTITIONS": str(self.topic_partitions),
            # Kafka's shortest (group.min.session.timeout.ms): a killed replica's partitions move to the
            # others within seconds, and Tansu makes a joining member wait half of it, at every start.
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "OTHER_RECEIVING_UNITS": json.dumps(OTHER_RECEIVING_UNITS),
            # Overdue dossiers are looked for every second, so tests and the demo see them at once.
            "OVERDUE_CHECK_INTERVAL_S": os.environ.get("OVERDUE_CHECK_INTERVAL_S", "1"),
            # A failing notification is retried within seconds: the stack is for watching things happen.
            "DELIVERY_BACKOFF_S": "0.2",
            # So is a partition paused by an outage, once the database or the broker is back.
            "CONSUMER_RETRY_BACKOFF_MAX_S": os.environ.get("CONSUMER_RETRY_BACKOFF_MAX_S", "5"),
            "OTEL_BSP_SCHEDULE_DELAY": os.environ.get("OTEL_BSP_SCHEDULE_DELAY", "200"),
            # One pepper for the stack, so a pseudonymised identifier reads the same in every service.
            "PII_PEPPER": os.environ.get("PII_PEPPER") or secrets.token_hex(32),
            # What the console reads: the services' APIs and, for trace links, TRACE_UI_URL if set.
            "ROUTING_URL": f"http://127.0.0.1:{self.ports.services['routing']}",
            "NOTIFICATIONS_URL": f"http://127.0.0.1:{self.ports.services['notifications']}",
            # Who may call (dossierbus_shared.auth): citizens by the local OpenID provider's tokens.
            "OIDC_ISSUER": self.identity.issuer,
            "OIDC_AUDIENCE": IDENTITY_AUDIENCE,
            "OIDC_PERSONAL_ID_CLAIM": PERSONAL_ID_CLAIM,
            "PORTAL_TOKEN": self.portal_token,
            "OPERATOR_TOKEN": self.operator_token,
            "AUDITOR_TOKEN": self.auditor_token,
            "TRACKING_SECRET_KEY": secrets.token_hex(32),
        }
        # Each service connects with its own least-privileged role; migrations run as its schema's owner.
        self.database_roles = await provision_service_roles(self.database_url)
        # Tansu looks for records at points of a held fetch's wait, not when they arrive: a record waits up
        # to half the wait at each hop. On a dossier's way to its agency the fetch is held 40 ms, not 100.
        on_path = {"KAFKA_FETCH_MAX_WAIT_MS": "40"}
        # Each credential goes only to the services that use it.
        own_env = {
            "registry": on_path
            | {
                "REGISTRY_ADMIN_TOKEN": self.admin_token,
                "ACCESS_LOG_KEY": self.access_log_key,
                "WEBHOOK_SECRETS_TOKEN": self.webhook_secrets_token,
            },
            "notifications": {
                "WEBHOOK_SECRETS_TOKEN": self.webhook_secrets_token,
                # The payment letters send the applicant to the citizen page of this stack's intake.
                "CITIZEN_PAGE_URL": f"http://127.0.0.1:{self.ports.services['intake']}/citizen",
            },
            # Every status change goes to the portal's simulator, retried within seconds.
            "routing": on_path
            | {
                "PORTAL_SYNC_URL": self.national_portal.sync_url,
                "PORTAL_SYNC_API_KEY": self.national_portal.api_key,
                "PORTAL_SYNC_BACKOFF_S": "0.5",
                "PORTAL_SYNC_BACKOFF_MAX_S": "5",
                "PORTAL_SYNC_POLL_INTERVAL_S": "1",
            },
            # Payments at the payment platform's simulator; a payment whose callback was lost is asked
            # about after 3 s, so tests and the demo see reconciliation happen.
            # The citizen page signs in at the local provider as a confidential client (it takes any
            # secret, and none without: it does not let a public client use PKCE alone).
            "intake": {
                "CITIZEN_OIDC_CLIENT_SECRET": secrets.token_hex(24),
                "PAYMENT_PLATFORM_URL": self.payment_gateway.api_url,
                "PAYMENT_MERCHANT_CODE": self.payment_gateway.merchant_code,
                "PAYMENT_CALLBACK_SECRET": self.payment_gateway.secret,
                "PAYMENT_CALLBACK_URL": f"http://127.0.0.1:{self.ports.services['intake']}/payments/callback",
                "PAYMENT_RECONCILE_AFTER_S": "3",
                "PAYMENT_RECONCILE_INTERVAL_S": "1",
            },
        }
        self.replicas = {
            name: [
                ServiceProcess(
                    name,
                    replica,
                    self.ports.services[name],
                    free_port(),
                    env | self.database_roles.get(name, {}) | own_env.get(name, {}),
                    self.workdir / "logs",
                )
                for replica in range(self.replica_counts[name])
            ]
            for name in SERVICES
        }
        for name in SERVICES:
            claim_port(self.ports.services[name], f"the {name} service")
        try:
            async with asyncio.TaskGroup() as starting:  # one failure cancels the other starts
                for name, replicas in self.replicas.items():
                    if name != "console":
                        for replica in replicas:
                            starting.create_task(replica.start())
        except ExceptionGroup as failures:
            raise failures.exceptions[0] from None
        # The console only reads the others: it starts after them rather than competing with their start.
        for replica in self.replicas["console"]:
            await replica.start()
        if self.run_agencies:
            self.agency_credentials = await self._issue_credentials(default_catalogue().agencies)
            self._agencies = [
                asyncio.create_task(
                    run_agency(
                        self.kafka_bootstrap,
                        code,
                        steps=self.agency_steps.get(code, DEFAULT_STEPS),
                        private_key_pem=private_key_pem,
                        stop=self._agencies_stop,
                    )
                )
                for code, private_key_pem in self.agency_keys.items()
            ]
            for task in self._agencies:
                task.add_done_callback(_report_agency_failure)

    async def stop_all(self) -> None:
        self._agencies_stop.set()
        if self._agencies:
            await asyncio.gather(*self._agencies, return_exceptions=True)
        # All at once: each service's shutdown waits on the network, not on the others.
        await asyncio.gather(*(asyncio.to_thread(replica.stop) for replica in self.all_replicas()))
        with contextlib.suppress(Exception):
            self.mail.stop()
        await asyncio.to_thread(self.identity.stop)
        await asyncio.to_thread(self.national_portal.stop)
        await asyncio.to_thread(self.payment_gateway.stop)
        if self._broker is not None:
            await asyncio.to_thread(self._broker.stop)
        if self._database is not None:
            await asyncio.to_thread(self._database.stop)
        shutil.rmtree(self.workdir, ignore_errors=True)

    async def _start_broker(self) -> None:
        if not self.kafka_bootstrap:
            self._broker = TansuBroker(self.ports.kafka, self.workdir / "logs" / "tansu.log")
            await self._broker.start()
            self.kafka_bootstrap = self._broker.bootstrap

    async def _start_database(self) -> None:
        if not self.database_url:
            logs = self.workdir / "logs"
            self._database = EmbeddedPostgres(self.workdir / "postgres", logs / "postgres.log")
            self.database_url = await self._database.start()

    def stop_database(self, *, crash: bool = False) -> None:
        """Stop the stack's own PostgreSQL, keeping its data (`crash`: an immediate stop, as a crash)."""
        self._own_database().stop_server(crash=crash)

    async def start_database(self) -> None:
        """Start the stack's own PostgreSQL again after `stop_database`."""
        await self._own_database().start_server()

    def _own_database(self) -> EmbeddedPostgres:
        if self._database is None:
            raise StackError("the stack uses a database it did not start (DATABASE_URL)")
        return self._database

    @property
    def agency_keys(self) -> dict[str, str]:
        """Each reference agency's private key (PEM), which it signs its reports with."""
        return {code: issued["private_key_pem"] for code, issued in self.agency_credentials.items()}

    async def _issue_credentials(self, codes: Iterable[str]) -> dict[str, dict[str, str]]:
        """Issue each catalogue agency its credentials and register the host its results are published
        on, as an operator would on onboarding."""
        issued: dict[str, dict[str, str]] = {}
        async with httpx.AsyncClient(timeout=30) as http:
            for code in codes:
                response = await http.post(
                    self.url("registry", f"/agencies/{code}/credentials"),
                    json={},
                    headers={"Authorization": f"Bearer {self.admin_token}"},
                )
                if response.status_code != 200:
                    raise StackError(f"cannot issue credentials to agency {code}: {response.text}")
                issued[code] = response.json()["credentials"]
                response = await http.put(
                    self.url("registry", f"/agencies/{code}/result-domains"),
                    json={"result_domains": [result_host(code)]},
                    headers={"Authorization": f"Bearer {self.admin_token}"},
                )
                if response.status_code != 200:
                    raise StackError(f"cannot register the result domain of agency {code}: {response.text}")
        return issued

    @staticmethod
    def agency_topics() -> list[str]:
        return [topic for code in default_catalogue().agencies for topic in agency_topics(code)]

    async def citizen_token(self, personal_id: str) -> str:
        """A citizen's ID token from the local OpenID provider, by the authorization-code flow."""
        return await self.identity.citizen_token(personal_id)

    def headers(self, role: str) -> dict[str, str]:
        """`Authorization` for the portal, an operator or an auditor (role name), or an agency (its code)."""
        tokens = {"portal": self.portal_token, "operator": self.operator_token, "auditor": self.auditor_token}
        token = tokens.get(role) or self.agency_credentials[role]["api_token"]
        return {"Authorization": f"Bearer {token}"}

    def url(self, service: str, path: str = "") -> str:
        """The service, whichever of its replicas answers."""
        return self.services[service].url(path)

    async def onboard(self, **agency: Any) -> dict[str, Any]:
        """Onboard an agency through the registry API, as an operator would: its directory entry and the
        credentials issued to it (`POST /agencies`)."""
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(
                self.url("registry", "/agencies"),
                json=agency,
                headers={"Authorization": f"Bearer {self.admin_token}"},
            )
        if response.status_code != 201:
            raise StackError(f"cannot onboard agency {agency.get('code')}: {response.text}")
        onboarded: dict[str, Any] = response.json()
        return onboarded

    @property
    def services(self) -> dict[str, ServiceProcess]:
        """Each service's first replica (its only one unless replicas were asked for)."""
        return {name: replicas[0] for name, replicas in self.replicas.items()}

    def all_replicas(self) -> list[ServiceProcess]:
        return [replica for replicas in self.replicas.values() for replica in replicas]

    def kill(self, service: str, replica: int = 0) -> None:
        """kill -9 one replica of a service."""
        self.replicas[service][replica].kill()

    async def start(self, service: str, replica: int = 0) -> None:
        """Start one replica of a service again (after `kill`)."""
        if not any(sibling.running for sibling in self.replicas[service]):
            claim_port(self.ports.services[service], f"the {service} service")
        await self.replicas[service][replica].start()

    @contextlib.asynccontextmanager
    async def database(self) -> AsyncIterator[asyncpg.Connection]:
        connection = await asyncpg.connect(asyncpg_dsn(self.database_url))
        try:
            yield connection
        finally:
            await connection.close()

    def spans(self) -> list[Span]:
        if not self.spans_file.exists():
            return []
        lines = self.spans_file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    async def spans_for(
        self, dossier_code: str, until: Callable[[list[Span]], bool] = bool, timeout_s: float = 20
    ) -> list[Span]:
        """Every span of the traces that touched this dossier, once `until` holds for them and no more
        have arrived for half a second (services export spans in batches, as they finish)."""
        deadline = time.monotonic() + timeout_s
        previous: list[Span] | None = None
        while True:
            spans = self.spans()
            traces = {s["trace_id"] for s in spans if s["attributes"].get("dossier.code") == dossier_code}
            found = [span for span in spans if span["trace_id"] in traces]
            settled = previous is not None and len(found) == len(previous)
            if (until(found) and settled) or time.monotonic() > deadline:
                return found
            previous = found
            await asyncio.sleep(0.5)


def replica_counts(asked: Mapping[str, int]) -> dict[str, int]:
    """The number of processes of every service: as asked, 1 for the others."""
    unknown = sorted(set(asked) - set(SERVICES))
    if unknown:
        raise StackError(f"no service named {', '.join(unknown)}; the services are {', '.join(SERVICES)}")
    if too_few := sorted(name for name, count in asked.items() if count < 1):
        raise StackError(f"a service runs at least one replica: {', '.join(too_few)}")
    return {name: asked.get(name, 1) for name in SERVICES}


def _report_agency_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a reference agency stopped", exc_info=task.exception())


__all__ = ["DevStack", "Ports", "StackError"]

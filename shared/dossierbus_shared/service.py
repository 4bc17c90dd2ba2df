"""The service factory: every service is one FastAPI app that owns a database schema, a Kafka consumer
(inbox + DLQ), an outbox relay and telemetry, started and stopped together in the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

from aiokafka.errors import KafkaConnectionError
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from dossierbus_shared.auth import document_authentication
from dossierbus_shared.body_limit import BodyLimit
from dossierbus_shared.consumer import EventConsumer
from dossierbus_shared.db import Database
from dossierbus_shared.db.migrate import upgrade_async
from dossierbus_shared.dlq import DeadLetterPublisher
from dossierbus_shared.http_errors import RETRY_AFTER_S, install_error_handlers
from dossierbus_shared.kafka import KafkaSecurity, Producer, ensure_topics, with_dlq
from dossierbus_shared.logs import configure_logging
from dossierbus_shared.metrics import KafkaSampler, Sampler, Samplers, metrics_response
from dossierbus_shared.outages import is_outage
from dossierbus_shared.outbox import OutboxRelay
from dossierbus_shared.privacy import set_pepper
from dossierbus_shared.settings import ServiceSettings
from dossierbus_shared.subscription import Subscription
from dossierbus_shared.telemetry import setup_telemetry
from dossierbus_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

READINESS_DB_TIMEOUT_S = 2.0
"""A database slower than this to answer `SELECT 1` makes the service not ready."""


class StartupError(RuntimeError):
    pass


class Service:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        migrations: Path,
        consumes: Sequence[str] = (),
        consumes_matching: str | None = None,
        produces: Sequence[str] = (),
        unit_of_work: Callable[[AsyncSession], UnitOfWork] = UnitOfWork,
    ) -> None:
        """`consumes_matching`: a regular expression naming further topics to consume, including those
        created while the service runs (e.g. the reports topic of a newly onboarded agency).
        `unit_of_work`: the service's UnitOfWork type, which its event handlers and use cases take."""
        self.unit_of_work_type = unit_of_work
        self.settings = settings
        self.migrations = migrations
        self.consumes = list(consumes)
        self.consumes_matching = consumes_matching
        self.produces = list(produces)
        configure_logging(settings.service_name, log_format=settings.log_format, level=settings.log_level)
        set_pepper(settings.pii_pepper.get_secret_value() if settings.pii_pepper else None)
        self.tracer_provider = setup_telemetry(settings.service_name, settings.spans_file)
        self.db = Database(
            settings.database_url,
            settings.db_schema,
            pool_size=settings.db_pool_size,
            pool_timeout_s=settings.db_pool_timeout_s,
        )
        self.kafka_security = KafkaSecurity.from_settings(settings)
        self.producer = Producer(settings)
        self.consumer: EventConsumer[Any] = EventConsumer(
            self.db,
            DeadLetterPublisher(self.producer, settings.consumer_group),
            unit_of_work=self.unit_of_work_type,
            retries=settings.consumer_retries,
            backoff_s=settings.consumer_retry_backoff_s,
            backoff_max_s=settings.consumer_retry_backoff_max_s,
        )
        self.relay = OutboxRelay(
            self.db,
            self.producer,
            batch_size=settings.outbox_batch_size,
            poll_interval_s=settings.outbox_poll_interval_s,
        )
        self.samplers = Samplers(settings.metrics_sample_interval_s)
        self.samplers.add(self.relay.sample_backlog)
        self.kafka_sampler = KafkaSampler(
            settings.kafka_bootstrap_servers,
            settings.consumer_group,
            self.consumes,
            matching=self.consumes_matching,
            client_options=self.kafka_security.client_options(),
        )
        if self.consumes:
            self.samplers.add(self.kafka_sampler)
        self.ready = False
        self._startup_hooks: list[Callable[[], Awaitable[None]]] = []
        self._shutdown_hooks: list[Callable[[], Awaitable[None]]] = []
        self._workers: list[Callable[[], Coroutine[Any, Any, None]]] = [self.relay.run, self.samplers.run]
        self._tasks: list[asyncio.Task[None]] = []
        self.subscription: Subscription | None = None
        if self.consumes:
            self.subscription = self._subscribe()
            self._workers += [self.subscription.run, self.consumer.parked.run]

    def _subscribe(self) -> Subscription:
        # Kafka subscribes to a list of topics or to one pattern, not both: a pattern covers both.
        # What one fetch of a partition holds is applied in one transaction (EventConsumer.process_batch).
        if self.consumes_matching:
            named = "|".join(re.escape(topic) for topic in self.consumes)
            pattern = f"^(?:{named}|{self.consumes_matching})$"
            return Subscription(self.settings, self.consumer.process_batch, pattern=pattern)
        return Subscription(self.settings, self.consumer.process_batch, topics=self.consumes)

    def unit_of_work(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """A transaction as this service's unit of work, for use cases outside the consumer (HTTP)."""
        return self.db.unit_of_work(self.unit_of_work_type)

    def on_startup(self, hook: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """Run `hook` after migrations, before consuming starts."""
        self._startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """Run `hook` when the service stops, after its workers and before its connections close."""
        self._shutdown_hooks.append(hook)
        return hook

    def background(
        self, worker: Callable[[], Coroutine[Any, Any, None]]
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        """Run `worker` for the life of the service (it should loop until cancelled)."""
        self._workers.append(worker)
        return worker

    def sample(self, sampler: Sampler) -> Sampler:
        """Run `sampler` every METRICS_SAMPLE_INTERVAL_S to set gauges from a query (see metrics.py)."""
        return self.samplers.add(sampler)

    async def start(self) -> None:
        settings = self.settings
        began = time.perf_counter()
        owner = settings.database_migration_url
        migrating_as = owner.get_secret_value() if owner else settings.database_url
        await upgrade_async(migrating_as, settings.db_schema, self.migrations)
        migrated = time.perf_counter()
        for hook in self._startup_hooks:
            await hook()
        hooked = time.perf_counter()
        try:
            await ensure_topics(
                settings.kafka_bootstrap_servers,
                with_dlq(self.consumes) + self.produces,
                partitions=settings.kafka_topic_partitions,
                security=self.kafka_security,
            )
            await self.producer.start()
            if self.subscription is not None:
                await self.subscription.start()
        except KafkaConnectionError as error:
            raise StartupError(
                f"{settings.service_name}: cannot reach Kafka at {settings.kafka_bootstrap_servers}: {error}"
            ) from error
        self._tasks = [asyncio.create_task(worker(), name=worker.__qualname__) for worker in self._workers]
        if settings.gc_freeze_at_start:
            gc.collect()  # what starting left behind goes first: frozen, it could never be collected
            gc.freeze()
        self.ready = True
        # Where a slow start spends its time (bench/startup.py measures the whole of it).
        log.info(
            "started in %.2fs: migrations %.2fs, start-up hooks %.2fs, Kafka %.2fs",
            time.perf_counter() - began,
            migrated - began,
            hooked - migrated,
            time.perf_counter() - hooked,
        )

    async def stop(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for hook in self._shutdown_hooks:
            try:
                await hook()
            except Exception as error:  # the rest of the shutdown still happens
                log.warning("shutdown hook %s failed: %s", getattr(hook, "__qualname__", hook), error)
        if self.subscription is not None:
            await self.subscription.stop()
        await self.kafka_sampler.close()
        await self.producer.stop()
        await self.db.dispose()
        self.tracer_provider.shutdown()

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def http_app(self, *routers: APIRouter, title: str | None = None) -> FastAPI:
        app = FastAPI(title=title or f"dossierbus {self.settings.service_name}", lifespan=self.lifespan)
        install_error_handlers(app)
        app.add_middleware(BodyLimit, max_bytes=self.settings.http_max_body_bytes)
        app.add_api_route("/healthz", self._health, methods=["GET"], include_in_schema=False)
        app.add_api_route("/readyz", self._readiness, methods=["GET"], include_in_schema=False)
        app.add_api_route("/metrics", metrics_response, methods=["GET"], include_in_schema=False)
        for router in routers:
            document_authentication(router)
            app.include_router(router)
        app.state.service = self
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.tracer_provider,
            excluded_urls="healthz,readyz,metrics",
            exclude_spans=["receive", "send"],
        )
        return app

    async def _health(self) -> dict[str, str]:
        return {"status": "alive"}

    async def _readiness(self, request: Request) -> JSONResponse:
        """Ready once started and while the database answers within READINESS_DB_TIMEOUT_S: during an
        outage the service says so here (and its requests are answered 503) rather than failing them."""
        problems = [] if self.ready else ["starting"]
        try:
            async with asyncio.timeout(READINESS_DB_TIMEOUT_S), self.db.transaction() as session:
                await session.execute(text("SELECT 1"))
        except Exception as error:
            reason = "unreachable" if is_outage(error) else "failing"
            problems.append(f"database {reason}: {type(error).__name__}")
        if problems:
            return JSONResponse(
                {"status": "not ready", "problems": problems},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        return JSONResponse({"status": "ready"})


class ServiceApp(NamedTuple):
    """What a service's `bootstrap()` composes: the service (consumer, relay, background work) and its
    HTTP app, which starts and stops the service with its lifespan."""

    service: Service
    app: FastAPI

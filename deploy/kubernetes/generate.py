"""Writes the Kubernetes manifests that follow from the code, so they cannot drift from it.

    .venv/bin/python deploy/kubernetes/generate.py          # rewrite the generated files
    .venv/bin/python deploy/kubernetes/generate.py --check  # exit 1 if a committed file is stale

From the event catalogue (`dossierbus_shared.events`), the agency catalogue (`agencies.yaml`) and the
services' Settings classes it writes, under base/:

- kafka/topics.yaml: a Strimzi KafkaTopic for every topic and its `.dlq` twin;
- kafka/users.yaml: a SCRAM-SHA-512 KafkaUser per service, per agency, for KEDA and for operators, each
  with the ACLs it needs and nothing more;
- services/<service>.yaml: each service's (and the operator console's) ConfigMap, Deployment, Service,
  PodDisruptionBudget and autoscaler (KEDA on its consumer group's lag, or a CPU HorizontalPodAutoscaler
  when it consumes nothing).

Everything else (the Kafka cluster, the collector, the kustomizations) is written by hand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dossierbus_console.settings import ConsoleSettings
from dossierbus_intake.settings import IntakeSettings
from dossierbus_notifications.settings import NotificationsSettings
from dossierbus_registry.settings import RegistrySettings
from dossierbus_routing.settings import RoutingSettings
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.db.roles import SERVICES_WITH_DATABASE
from dossierbus_shared.events import (
    FIXED_TOPICS,
    DossierDeadlineExtended,
    DossierOverdue,
    DossierPaid,
    DossierPaymentRequested,
    DossierRated,
    DossierStatusChanged,
    DossierSubmitted,
    DossierVerified,
    agency_topics,
)
from dossierbus_shared.kafka import DLQ_SUFFIX, MAX_MESSAGE_BYTES, with_dlq
from dossierbus_shared.settings import ServiceSettings

HERE = Path(__file__).resolve().parent
BASE = HERE / "base"
HEADER = (
    "# Written by deploy/kubernetes/generate.py from the code and agencies.yaml: edit those and rerun it.\n"
)

# The Strimzi Kafka resource (base/kafka/cluster.yaml) and what its operators derive from its name.
KAFKA_CLUSTER = "dossierbus"
KAFKA_BOOTSTRAP = f"{KAFKA_CLUSTER}-kafka-bootstrap:9093"  # the internal TLS + SCRAM-SHA-512 listener
CLUSTER_CA_SECRET = f"{KAFKA_CLUSTER}-cluster-ca-cert"
CA_MOUNT = "/etc/dossierbus/kafka-ca"

# Durability: every write is on 3 brokers and acknowledged by at least 2 (the producers use acks=all).
REPLICAS = 3
MIN_INSYNC_REPLICAS = 2
PARTITIONS = 12  # the most consumers a group can usefully run
DLQ_PARTITIONS = 3
DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000  # time for an operator to look at and replay a dead letter

COLLECTOR_ENDPOINT = "http://otel-collector:4318"  # base/otel-collector.yaml, OTLP over HTTP
# The tracing backend's query API, which the console reads for a dossier's trace; the base's backend is
# the Jaeger the collector exports to (base/observability/otel-collector.yaml), overlays name theirs.
TRACE_QUERY_URL = "http://jaeger-query.observability.svc:16686"
DATABASE_SECRET_SUFFIX = "-database"  # dossierbus-<service>-database, created by the operator: README.md
IMAGE_PREFIX = "dossierbus-"  # the Dockerfile's images; overlays set registry and tag
KEDA_USER = "dossierbus-keda"
OPERATOR_USER = "dossierbus-operator"
REPLAY_GROUP_PREFIX = "dossierbus.dlq-replay."  # dossierbus_shared.dlq.replay
# Per agency, per broker: one misbehaving agency system cannot crowd out the others.
AGENCY_QUOTAS = {"producerByteRate": 1024 * 1024, "consumerByteRate": 4 * 1024 * 1024}


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


@dataclass(frozen=True)
class ServiceSpec:
    """What a service consumes and produces (as in its app.py) and how it runs."""

    settings: type[ServiceSettings]
    consumes: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    describes_prefixes: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    optional_secrets: dict[str, str] = field(default_factory=dict)  # variable -> key of <service> Secret
    secrets: dict[str, str] = field(default_factory=dict)  # the same, required: no start without them
    resources: Resources = Resources("100m", "256Mi", "1", "512Mi")
    min_replicas: int = 2
    max_replicas: int = 6
    kafka_user: str = ""
    """The KafkaUser it connects as; its own (dossierbus-<service>) unless named."""

    @property
    def name(self) -> str:
        return str(self.settings.model_fields["service_name"].default)

    @property
    def port(self) -> int:
        return int(self.settings.model_fields["http_port"].default)

    @property
    def full_name(self) -> str:
        return f"dossierbus-{self.name}"

    @property
    def consumer_group(self) -> str:
        return self.settings.model_construct().consumer_group if self.consumes else ""

    @property
    def kafka_username(self) -> str:
        return self.kafka_user or self.full_name

    @property
    def has_database(self) -> bool:
        return self.name in SERVICES_WITH_DATABASE


SERVICE_SETTINGS: tuple[type[ServiceSettings], ...] = (
    IntakeSettings,
    RegistrySettings,
    RoutingSettings,
    NotificationsSettings,
)


def in_cluster_urls() -> dict[str, str]:
    """Service name -> its URL inside the cluster: the Kubernetes Service in front of it."""
    urls = {}
    for settings in SERVICE_SETTINGS:
        fields = settings.model_fields
        name = fields["service_name"].default
        urls[name] = f"http://dossierbus-{name}:{fields['http_port'].default}"
    return urls


def service_url_settings(settings: type[ServiceSettings]) -> dict[str, str]:
    """`<SERVICE>_URL` for every setting named after another service (e.g. registry_url)."""
    urls = in_cluster_urls()
    return {
        field.upper(): urls[field.removesuffix("_url")]
        for field in settings.model_fields
        if field.endswith("_url") and field.removesuffix("_url") in urls
    }


def agency_inboxes_and_reports() -> tuple[list[str], list[str]]:
    pairs = [agency_topics(code) for code in sorted(default_catalogue().agencies)]
    return [inbox for inbox, _ in pairs], [reports for _, reports in pairs]


# Who may call (dossierbus_shared.auth): the national eID's issuer is the overlay's to set (empty: no
# citizen login); the static tokens come from each service's `<service>-secrets` Secret.
CALLER_SETTINGS = {"OIDC_ISSUER": "", "OIDC_AUDIENCE": "dossierbus", "OIDC_PERSONAL_ID_CLAIM": "sub"}
CALLER_SECRETS = {
    "PORTAL_TOKEN": "portal-token",
    "OPERATOR_TOKEN": "operator-token",
    "AUDITOR_TOKEN": "auditor-token",
}


def services() -> list[ServiceSpec]:
    inboxes, reports = agency_inboxes_and_reports()
    return [
        ServiceSpec(
            IntakeSettings,
            # Routing asks on dossier.payments for the fees intake collects; intake answers there.
            consumes=(DossierStatusChanged.topic, DossierPaymentRequested.topic),
            produces=(DossierSubmitted.topic, DossierRated.topic, DossierPaymentRequested.topic),
            # The payment platform and the citizen page's public URL are the overlay's to set (empty:
            # payments cannot be opened; the page takes its URL from the request); the callbacks' key, the
            # page's cookie key and its client secret at the eID provider come from the intake Secret.
            environment={
                "PAYMENT_PLATFORM_URL": "",
                "PAYMENT_MERCHANT_CODE": "",
                "PAYMENT_CALLBACK_URL": "",
                "CITIZEN_PAGE_URL": "",
            },
            optional_secrets={
                **CALLER_SECRETS,
                "TRACKING_SECRET_KEY": "tracking-secret-key",
                "PAYMENT_CALLBACK_SECRET": "payment-callback-secret",
                "CITIZEN_SESSION_KEY": "citizen-session-key",
                "CITIZEN_OIDC_CLIENT_SECRET": "citizen-oidc-client-secret",
            },
        ),
        ServiceSpec(
            RegistrySettings,
            # The agencies' inboxes tell the registry who holds which step of which dossier.
            consumes=(DossierSubmitted.topic, DossierStatusChanged.topic, *inboxes),
            produces=(DossierVerified.topic,),
            # Onboarding an agency checks that its topics exist (they are declared as KafkaTopics).
            describes_prefixes=("agency.",),
            optional_secrets={
                "REGISTRY_ADMIN_TOKEN": "admin-token",
                "WEBHOOK_SECRETS_TOKEN": "webhook-secrets-token",
                **CALLER_SECRETS,
            },
            # The access log's HMAC key, kept out of the database: the registry does not start without it.
            secrets={"ACCESS_LOG_KEY": "access-log-key"},
        ),
        ServiceSpec(
            RoutingSettings,
            # dossier.payments: intake's payments and refunds (its own payment requests there are ignored).
            consumes=(DossierVerified.topic, DossierRated.topic, DossierPaid.topic, *reports),
            produces=(
                DossierStatusChanged.topic,
                DossierOverdue.topic,
                DossierDeadlineExtended.topic,
                DossierPaymentRequested.topic,
                *inboxes,
            ),
            # The national portal's status-sync endpoint is the overlay's to set (empty: sync off); its
            # API key comes from the routing Secret.
            environment={"PORTAL_SYNC_URL": ""},
            optional_secrets={**CALLER_SECRETS, "PORTAL_SYNC_API_KEY": "portal-sync-api-key"},
        ),
        ServiceSpec(
            NotificationsSettings,
            consumes=(
                DossierSubmitted.topic,
                DossierStatusChanged.topic,
                DossierDeadlineExtended.topic,
                DossierOverdue.topic,
                DossierPaymentRequested.topic,  # dossier.payments: fees due, paid, refunded
            ),
            # The outgoing mail relay; overlays point it at the real one. The citizen page the payment
            # letters name is the overlay's to set (empty: the letters name the page without a link).
            environment={"SMTP_HOST": "smtp-relay", "SMTP_PORT": "25", "CITIZEN_PAGE_URL": ""},
            # WEBHOOK_SECRETS_TOKEN reads agencies' webhook secrets from the registry, and nothing else.
            optional_secrets={"WEBHOOK_SECRETS_TOKEN": "webhook-secrets-token", **CALLER_SECRETS},
        ),
        ServiceSpec(
            ConsoleSettings,
            # Reads a dossier's trace from the tracing backend's query API. TRACE_UI_URL, the link an
            # operator's browser follows, is the overlay's to set (empty: trace ids without links).
            environment={"TRACE_QUERY_URL": TRACE_QUERY_URL, "TRACE_UI_URL": ""},
            # The operators' login (the token the console also calls the services with).
            optional_secrets={"OPERATOR_TOKEN": "operator-token"},
            # It shows lag and dead letters and replays them: what operators do, as the operator user.
            kafka_user=OPERATOR_USER,
            resources=Resources("50m", "128Mi", "500m", "256Mi"),
            max_replicas=3,
        ),
    ]


def all_topics() -> list[str]:
    """Every topic of the bus and its dead-letter twin, as the development stack creates them."""
    inboxes, reports = agency_inboxes_and_reports()
    return sorted(with_dlq([*FIXED_TOPICS, *inboxes, *reports]))


def topic_partitions(topic: str) -> int:
    return DLQ_PARTITIONS if topic.endswith(DLQ_SUFFIX) else PARTITIONS


# --- Kafka topics and users -------------------------------------------------------------------------


def kafka_topic(topic: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "min.insync.replicas": MIN_INSYNC_REPLICAS,
        "cleanup.policy": "delete",
        # No larger than the services can dead-letter (dossierbus_shared.kafka.MAX_MESSAGE_BYTES).
        "max.message.bytes": MAX_MESSAGE_BYTES,
    }
    if topic.endswith(DLQ_SUFFIX):
        config["retention.ms"] = DLQ_RETENTION_MS
    return {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {"name": topic, "labels": {"strimzi.io/cluster": KAFKA_CLUSTER}},
        "spec": {
            "topicName": topic,
            "partitions": topic_partitions(topic),
            "replicas": REPLICAS,
            "config": config,
        },
    }


def acl(kind: str, name: str, operation: str, pattern: str = "literal") -> dict[str, Any]:
    return {"resource": {"type": kind, "name": name, "patternType": pattern}, "operations": [operation]}


def kafka_user(
    name: str, acls: Iterable[dict[str, Any]], labels: dict[str, str], quotas: dict[str, int] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "authentication": {"type": "scram-sha-512"},
        "authorization": {"type": "simple", "acls": list(acls)},
    }
    if quotas:
        spec["quotas"] = quotas
    return {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaUser",
        "metadata": {"name": name, "labels": {"strimzi.io/cluster": KAFKA_CLUSTER, **labels}},
        "spec": spec,
    }


def service_acls(service: ServiceSpec) -> list[dict[str, Any]]:
    """Read what it consumes (in its own group), write what it produces and its consumed topics' DLQs.

    Read and Write imply Describe, which is all topic creation at start-up needs for existing topics.
    """
    rules = [acl("topic", topic, "Read") for topic in service.consumes]
    if service.consumes:
        rules.append(acl("group", service.consumer_group, "Read"))
    rules += [acl("topic", topic + DLQ_SUFFIX, "Write") for topic in service.consumes]
    rules += [acl("topic", topic, "Write") for topic in service.produces]
    rules += [acl("topic", prefix, "Describe", "prefix") for prefix in service.describes_prefixes]
    return rules


def agency_user_name(code: str) -> str:
    return f"agency-{code}"


def agency_acls(code: str) -> list[dict[str, Any]]:
    """Exactly: read its inbox in its own consumer group, write its reports topic."""
    inbox, reports = agency_topics(code)
    return [
        acl("topic", inbox, "Read"),
        acl("group", f"agency.{code}", "Read"),
        acl("topic", reports, "Write"),
    ]


def keda_acls(specs: list[ServiceSpec]) -> list[dict[str, Any]]:
    """The lag scaler reads committed and end offsets: Describe on the groups and their topics."""
    consumers = [spec for spec in specs if spec.consumes]
    rules = [acl("group", spec.consumer_group, "Describe") for spec in consumers]
    topics = sorted({topic for spec in consumers for topic in spec.consumes})
    return rules + [acl("topic", topic, "Describe") for topic in topics]


def operator_acls() -> list[dict[str, Any]]:
    """`dossierbus-dlq list|replay`: read every DLQ, write the letters back where they came from."""
    dlqs = [topic for topic in all_topics() if topic.endswith(DLQ_SUFFIX)]
    rules = [acl("topic", topic, "Read") for topic in dlqs]
    rules.append(acl("group", REPLAY_GROUP_PREFIX, "Read", "prefix"))
    rules += [acl("topic", topic.removesuffix(DLQ_SUFFIX), "Write") for topic in dlqs]
    # The console (which connects as this user) shows every group's lag: the services' and the agencies'.
    return rules + [acl("group", prefix, "Describe", "prefix") for prefix in ("dossierbus.", "agency.")]


def kafka_users(specs: list[ServiceSpec]) -> list[dict[str, Any]]:
    users = [
        kafka_user(spec.full_name, service_acls(spec), {"dossierbus.gov.vn/role": "service"})
        for spec in specs
        if spec.kafka_username == spec.full_name
    ]
    users.append(kafka_user(KEDA_USER, keda_acls(specs), {"dossierbus.gov.vn/role": "autoscaler"}))
    users.append(kafka_user(OPERATOR_USER, operator_acls(), {"dossierbus.gov.vn/role": "operator"}))
    users += [
        kafka_user(
            agency_user_name(code), agency_acls(code), {"dossierbus.gov.vn/role": "agency"}, AGENCY_QUOTAS
        )
        for code in sorted(default_catalogue().agencies)
    ]
    return users


# --- the services -----------------------------------------------------------------------------------


def labels(spec: ServiceSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": spec.full_name, "app.kubernetes.io/component": spec.name}


def config_map(spec: ServiceSpec) -> dict[str, Any]:
    data = {
        "HTTP_HOST": "0.0.0.0",
        "HTTP_PORT": str(spec.port),
        "KAFKA_BOOTSTRAP_SERVERS": KAFKA_BOOTSTRAP,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": spec.kafka_username,
        "KAFKA_SSL_CAFILE": f"{CA_MOUNT}/ca.crt",
        "OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR_ENDPOINT,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": spec.full_name,
        **service_url_settings(spec.settings),
        **CALLER_SETTINGS,
        **spec.environment,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": spec.full_name, "labels": labels(spec)},
        "data": data,
    }


def database_secret(spec: ServiceSpec) -> str:
    """The Secret with the service's database URLs: one per service, each with its own roles."""
    return spec.full_name + DATABASE_SECRET_SUFFIX


def deployment(spec: ServiceSpec) -> dict[str, Any]:
    # The service's own least-privileged role, and its schema's owner for migrations at start-up.
    env: list[dict[str, Any]] = [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": database_secret(spec), "key": key}}}
        for key in ("DATABASE_URL", "DATABASE_MIGRATION_URL")
        if spec.has_database
    ]
    env += [
        # The Secret the Strimzi user operator writes for the service's KafkaUser.
        {
            "name": "KAFKA_SASL_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": spec.kafka_username, "key": "password"}},
        },
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {
            "name": "OTEL_RESOURCE_ATTRIBUTES",
            "value": "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)",
        },
    ]
    env += [
        {"name": variable, "valueFrom": {"secretKeyRef": {"name": f"{spec.full_name}-secrets", "key": key}}}
        for variable, key in spec.secrets.items()
    ]
    env += [
        {
            "name": variable,
            "valueFrom": {
                "secretKeyRef": {"name": f"{spec.full_name}-secrets", "key": key, "optional": True}
            },
        }
        for variable, key in spec.optional_secrets.items()
    ]
    probe = {"port": "http", "scheme": "HTTP"}
    container = {
        "name": spec.name,
        "image": IMAGE_PREFIX + spec.name,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": spec.full_name}}],
        "env": env,
        # Migrations and the topic check run before the first answer: give start-up its own budget.
        "startupProbe": {
            "httpGet": {"path": "/healthz", **probe},
            "periodSeconds": 5,
            "failureThreshold": 36,
            "timeoutSeconds": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", **probe},
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", **probe},
            "periodSeconds": 5,
            "failureThreshold": 3,
            "timeoutSeconds": 3,
        },
        "resources": {
            "requests": {"cpu": spec.resources.cpu_request, "memory": spec.resources.memory_request},
            "limits": {"cpu": spec.resources.cpu_limit, "memory": spec.resources.memory_limit},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "kafka-ca", "mountPath": CA_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": spec.full_name, "labels": labels(spec)},
        "spec": {
            # No replicas: the autoscaler owns the count.
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels(spec)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels(spec)},
                "spec": {
                    "serviceAccountName": spec.full_name,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,  # the Dockerfile's dossierbus user
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": labels(spec)},
                        }
                    ],
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "kafka-ca",
                            "secret": {
                                "secretName": CLUSTER_CA_SECRET,
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            },
                        },
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    }


def service_account(spec: ServiceSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": spec.full_name, "labels": labels(spec)},
        "automountServiceAccountToken": False,
    }


def service(spec: ServiceSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": spec.full_name, "labels": labels(spec)},
        "spec": {
            "type": "ClusterIP",
            "selector": labels(spec),
            "ports": [{"name": "http", "port": spec.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def disruption_budget(spec: ServiceSpec) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": spec.full_name, "labels": labels(spec)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels(spec)}},
    }


def autoscaler(spec: ServiceSpec) -> dict[str, Any]:
    if not spec.consumes:
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": spec.full_name, "labels": labels(spec)},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.full_name},
                "minReplicas": spec.min_replicas,
                "maxReplicas": spec.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        }
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": spec.full_name, "labels": labels(spec)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.full_name},
            "minReplicaCount": spec.min_replicas,
            "maxReplicaCount": spec.max_replicas,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
                }
            },
            "triggers": [
                {
                    # No topic: the lag of the whole group, over every topic it consumes.
                    "type": "kafka",
                    "metadata": {
                        "bootstrapServers": KAFKA_BOOTSTRAP,
                        "consumerGroup": spec.consumer_group,
                        "lagThreshold": "100",
                        "offsetResetPolicy": "earliest",
                        "sasl": "scram_sha512",
                        "tls": "enable",
                    },
                    "authenticationRef": {"name": "dossierbus-keda-kafka"},
                }
            ],
        },
    }


def service_documents(spec: ServiceSpec) -> list[dict[str, Any]]:
    return [
        config_map(spec),
        service_account(spec),
        deployment(spec),
        service(spec),
        disruption_budget(spec),
        autoscaler(spec),
    ]


# --- writing ----------------------------------------------------------------------------------------


def dump(documents: Iterable[dict[str, Any]]) -> str:
    body = "---\n".join(
        yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120) for doc in documents
    )
    return HEADER + body


def rendered() -> dict[Path, str]:
    """Generated file -> its content."""
    specs = services()
    files = {
        BASE / "kafka" / "topics.yaml": dump(kafka_topic(topic) for topic in all_topics()),
        BASE / "kafka" / "users.yaml": dump(kafka_users(specs)),
    }
    for spec in specs:
        files[BASE / "services" / f"{spec.name}.yaml"] = dump(service_documents(spec))
    return files


def stale_files() -> list[Path]:
    return [
        path for path, text in rendered().items() if not path.is_file() or path.read_text("utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report files that differ from the code")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path.relative_to(HERE)} (run deploy/kubernetes/generate.py)", file=sys.stderr)
        return 1 if stale else 0
    for path, text in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""deploy/kubernetes checked offline, against Kubernetes' schemas and against the code.

No cluster is needed: every manifest is parsed, the built-in kinds are validated against the Kubernetes
JSON schemas (kubernetes-validate, strict: unknown fields fail), the Strimzi and KEDA resources get a
focused structural check, the overlays are rendered with `kubectl kustomize` where kubectl is
installed, and everything is compared with where the code defines it: the Settings classes (variables,
ports, consumer groups), the event and agency catalogues (topics), the apps (what each service consumes
and produces), the Dockerfile (user) and the collector config (OTLP port).
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from dossierbus_console.settings import ConsoleSettings
from dossierbus_intake.settings import IntakeSettings
from dossierbus_notifications.settings import NotificationsSettings
from dossierbus_registry.settings import RegistrySettings
from dossierbus_routing.settings import RoutingSettings
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.events import FIXED_TOPICS, agency_topics
from dossierbus_shared.kafka import DLQ_SUFFIX, MAX_MESSAGE_BYTES, with_dlq
from dossierbus_shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
OVERLAYS = sorted(path.parent for path in (KUBERNETES / "overlays").glob("*/kustomization.yaml"))
DEPLOY_README = ROOT / "deploy" / "README.md"

SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "registry": RegistrySettings,
    "routing": RoutingSettings,
    "notifications": NotificationsSettings,
}
# The oldest Kubernetes the manifests must be valid for.
KUBERNETES_VERSION = "1.30"
CUSTOM_KINDS = {
    ("kafka.strimzi.io/v1beta2", "Kafka"),
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
    ("kafka.strimzi.io/v1beta2", "KafkaUser"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
}
CLUSTER_SCOPED = {"Namespace"}
# Secrets the operator creates before deploying (deploy/README.md says how).
SERVICES_WITH_DATABASE = ("intake", "registry", "routing", "notifications")
OPERATOR_SECRETS = {f"dossierbus-{service}-database" for service in SERVICES_WITH_DATABASE} | {
    "dossierbus-registry-secrets"
}
ACL_OPERATIONS = {"Read", "Write", "Describe"}  # all the bus needs; never All, Create, Delete, Alter...
# Variables a container defines only to build another one's value, e.g. OTEL_RESOURCE_ATTRIBUTES.
DOWNWARD_API = {"POD_NAME", "POD_NAMESPACE"}

Doc = dict[str, Any]
# libyaml's safe loader where PyYAML was built with it: the same documents, a few times faster.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --- rendering --------------------------------------------------------------------------------------


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dossierbus_kubernetes_generate", KUBERNETES / "generate.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def yaml_documents(path: Path) -> list[Doc]:
    return [doc for doc in yaml.load_all(path.read_text(encoding="utf-8"), YAML_LOADER) if doc is not None]


def render(directory: Path) -> list[Doc]:
    """The base's objects, as `kustomize build` would give them: resources followed, namespace set.

    The base uses nothing else (patches and images belong to overlays); the check below keeps it so.
    """
    kustomization = yaml_documents(directory / "kustomization.yaml")[0]
    unsupported = set(kustomization) - {"apiVersion", "kind", "namespace", "labels", "resources"}
    assert not unsupported, f"{directory}: this check renders no {sorted(unsupported)}; use an overlay"
    docs: list[Doc] = []
    for entry in kustomization["resources"]:
        path = directory / entry
        docs += render(path) if path.is_dir() else yaml_documents(path)
    for doc in docs:
        if "namespace" in kustomization and doc["kind"] not in CLUSTER_SCOPED:
            doc["metadata"]["namespace"] = kustomization["namespace"]
        for label_set in kustomization.get("labels", []):
            doc["metadata"].setdefault("labels", {}).update(label_set["pairs"])
    return docs


class Background:
    """The commands that take a second or more each (`kubectl kustomize` of the base and of each overlay,
    the apps imported in a process of their own): all started with the module's first test, side by side
    and beside the tests, and each read when a test needs it."""

    def __init__(self, pool: ThreadPoolExecutor, apps_directory: Path) -> None:
        self.kubectl = shutil.which("kubectl")
        self.renderings: dict[Path, Future[subprocess.CompletedProcess[str]]] = {}
        if self.kubectl is not None:
            for directory in (BASE, *OVERLAYS):
                command = [self.kubectl, "kustomize", str(directory)]
                self.renderings[directory] = pool.submit(
                    subprocess.run, command, capture_output=True, text=True, timeout=120, check=False
                )
        self.contracts = pool.submit(read_contracts, apps_directory)
        self._documents: dict[Path, list[Doc]] = {}

    def kustomize(self, directory: Path) -> list[Doc]:
        if self.kubectl is None:
            pytest.skip("kubectl is not installed: overlays are rendered by `kubectl kustomize`")
        if directory not in self._documents:
            result = self.renderings[directory].result()
            assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
            self._documents[directory] = [
                doc for doc in yaml.load_all(result.stdout, YAML_LOADER) if doc is not None
            ]
        return copy.deepcopy(self._documents[directory])


@pytest.fixture(scope="module", autouse=True)
def background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Background]:
    with ThreadPoolExecutor(max_workers=len(OVERLAYS) + 2) as pool:
        yield Background(pool, tmp_path_factory.mktemp("apps"))


@pytest.fixture
def kubectl_kustomize(background: Background) -> Callable[[Path], list[Doc]]:
    """`kubectl_kustomize(directory)`: the objects `kubectl kustomize` renders there."""
    return background.kustomize


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="module")
def base() -> list[Doc]:
    return render(BASE)


def objects(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def one(docs: list[Doc], kind: str) -> Doc:
    found = list(objects(docs, kind).values())
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(deployment: Doc) -> Doc:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{deployment['metadata']['name']}: one container per pod"
    found: Doc = containers[0]
    return found


def deployment_of(docs: list[Doc], service: str) -> Doc:
    deployments = objects(docs, "Deployment")
    name = f"dossierbus-{service}"
    assert name in deployments, f"no Deployment {name}"
    return deployments[name]


def environment(docs: list[Doc], deployment: Doc) -> dict[str, Doc | str]:
    """Variable -> literal value, or the valueFrom it is read from; ConfigMaps of envFrom included."""
    spec = container(deployment)
    config_maps = objects(docs, "ConfigMap")
    variables: dict[str, Doc | str] = {}
    for source in spec.get("envFrom", []):
        name = source["configMapRef"]["name"]
        assert name in config_maps, f"envFrom names a ConfigMap that is not deployed: {name}"
        variables.update(config_maps[name]["data"])
    for entry in spec.get("env", []):
        variables[entry["name"]] = entry["value"] if "value" in entry else entry["valueFrom"]
    return variables


def secret_ref(value: Doc | str) -> tuple[str, str]:
    assert isinstance(value, dict) and "secretKeyRef" in value, f"expected a secretKeyRef, got {value!r}"
    return value["secretKeyRef"]["name"], value["secretKeyRef"]["key"]


def kafka_cluster(docs: list[Doc]) -> Doc:
    return one(docs, "Kafka")


# --- the files --------------------------------------------------------------------------------------


def test_every_manifest_parses_and_names_its_kind() -> None:
    files = sorted(KUBERNETES.rglob("*.yaml"))
    assert files
    for path in files:
        for doc in yaml_documents(path):
            assert {"apiVersion", "kind"} <= set(doc), f"{path}: a document without apiVersion or kind"
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"], f"{path}: a {doc['kind']} without a name"


def test_generated_manifests_are_current(generator: ModuleType) -> None:
    stale = generator.stale_files()
    assert not stale, f"run deploy/kubernetes/generate.py: stale {[str(p.relative_to(ROOT)) for p in stale]}"


def test_the_base_lists_every_manifest_once() -> None:
    listed: list[Path] = []

    def walk(directory: Path) -> None:
        for entry in yaml_documents(directory / "kustomization.yaml")[0]["resources"]:
            path = (directory / entry).resolve()
            if path.is_dir():
                walk(path)
            else:
                listed.append(path)

    walk(BASE)
    on_disk = {path.resolve() for path in BASE.rglob("*.yaml") if path.name != "kustomization.yaml"}
    assert len(listed) == len(set(listed)), "a manifest is listed twice"
    assert set(listed) == on_disk, (
        f"not in base/kustomization.yaml: {sorted(map(str, on_disk - set(listed)))}"
    )


def test_no_two_objects_share_kind_and_name(base: list[Doc]) -> None:
    keys = [(doc["kind"], doc["metadata"]["name"]) for doc in base]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    assert not duplicates, f"declared twice: {duplicates}"


@pytest.fixture(scope="module", autouse=True)
def schemas_read_once() -> Iterator[None]:
    """kubernetes-validate reads and parses its schema files for every object it validates, the shared
    definitions (1.3 MB of JSON) included: here each file is read once. (The schemas are only read.)"""
    with pytest.MonkeyPatch.context() as patch:
        read = functools.cache(kubernetes_validate.utils.schema_contents)
        patch.setattr(kubernetes_validate.utils, "schema_contents", read)
        yield


VALID: set[str] = set()
"""The objects found valid (as canonical JSON): the base's and the overlays' are mostly the same ones, and
each validation reads the Kubernetes schema files again."""


def validate_schemas(docs: list[Doc]) -> None:
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue  # checked by the Strimzi and KEDA tests below
        canonical = json.dumps(doc, sort_keys=True)
        if canonical in VALID:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            VALID.add(canonical)
        except jsonschema.ValidationError as error:  # kubernetes_validate's, or jsonschema's own
            where = ".".join(str(part) for part in error.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            pytest.fail(f"{doc['kind']} {doc['apiVersion']} is no Kubernetes kind: {error.message}")


def test_built_in_kinds_match_the_kubernetes_schemas(base: list[Doc]) -> None:
    validate_schemas(base)


def test_custom_resources_are_strimzi_and_keda(base: list[Doc]) -> None:
    custom = {(doc["apiVersion"], doc["kind"]) for doc in base if "." in doc["apiVersion"].split("/")[0]}
    built_in_groups = ("apps/", "policy/", "autoscaling/", "networking.k8s.io/", "rbac.authorization.k8s.io/")
    custom = {(api, kind) for api, kind in custom if not api.startswith(built_in_groups)}
    assert custom <= CUSTOM_KINDS, f"unexpected custom resources: {sorted(custom - CUSTOM_KINDS)}"


@pytest.mark.parametrize("directory", [BASE, *OVERLAYS], ids=lambda path: path.name)
def test_kustomize_renders_valid_objects(
    directory: Path, base: list[Doc], kubectl_kustomize: Callable[[Path], list[Doc]]
) -> None:
    rendered = kubectl_kustomize(directory)
    validate_schemas(rendered)
    assert {(d["kind"], d["metadata"]["name"]) for d in rendered} == {
        (d["kind"], d["metadata"]["name"]) for d in base
    }, "an overlay adds or drops objects: add them to the base instead"
    if directory != BASE:
        for deployment in objects(rendered, "Deployment").values():
            image = container(deployment)["image"]
            assert re.search(r":[\w][\w.-]*$", image.rsplit("/", 1)[-1]) and not image.endswith(":latest"), (
                f"{directory.name}: {deployment['metadata']['name']} runs {image}; pin a tag"
            )


def test_the_python_rendering_agrees_with_kustomize(
    base: list[Doc], kubectl_kustomize: Callable[[Path], list[Doc]]
) -> None:
    rendered = kubectl_kustomize(BASE)
    by_key = {(d["kind"], d["metadata"]["name"]): d for d in rendered}
    for doc in base:
        assert by_key[(doc["kind"], doc["metadata"]["name"])] == doc


# --- Kafka ------------------------------------------------------------------------------------------


def bus_topics() -> set[str]:
    agency = [topic for code in default_catalogue().agencies for topic in agency_topics(code)]
    return set(with_dlq([*FIXED_TOPICS, *agency]))


def declared_topics(docs: list[Doc]) -> dict[str, Doc]:
    return {
        doc["spec"].get("topicName", doc["metadata"]["name"]): doc
        for doc in objects(docs, "KafkaTopic").values()
    }


def test_kafka_runs_kraft_with_durable_defaults(base: list[Doc]) -> None:
    kafka = kafka_cluster(base)
    annotations = kafka["metadata"].get("annotations", {})
    assert (
        annotations.get("strimzi.io/kraft") == "enabled"
        and annotations.get("strimzi.io/node-pools") == "enabled"
    )
    pools = [
        p for p in objects(base, "KafkaNodePool").values() if p["metadata"]["labels"]["strimzi.io/cluster"]
    ]
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert brokers >= 3, "replication 3 needs three brokers"
    assert controllers >= 3 and controllers % 2 == 1, "a KRaft quorum that survives losing one controller"
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["transaction.state.log.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    assert config["auto.create.topics.enable"] is False, "topics are declared, not created by accident"
    assert config.get("unclean.leader.election.enable") is False
    assert config["message.max.bytes"] == MAX_MESSAGE_BYTES, "no larger records than can be dead-lettered"
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple", "ACLs are enforced"
    for listener in kafka["spec"]["kafka"]["listeners"]:
        assert listener["tls"] is True, f"listener {listener['name']} must use TLS"
        assert listener["authentication"]["type"] == "scram-sha-512", f"listener {listener['name']}"
    assert {"topicOperator", "userOperator"} <= set(kafka["spec"]["entityOperator"])


def test_the_same_kafka_and_collector_as_the_compose_stack(base: list[Doc]) -> None:
    """One Kafka version and one collector version are run and tested; the cluster runs them too."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    kafka_image = next(s["image"] for s in compose.values() if s.get("image", "").startswith("apache/kafka:"))
    assert kafka_cluster(base)["spec"]["kafka"]["version"] == kafka_image.split(":")[1]
    collector_image = next(
        s["image"] for s in compose.values() if "opentelemetry-collector" in s.get("image", "")
    )
    assert container(objects(base, "Deployment")["otel-collector"])["image"] == collector_image


def test_every_topic_is_declared_with_replication_3_and_min_insync_2(base: list[Doc]) -> None:
    declared = declared_topics(base)
    missing = bus_topics() - set(declared)
    assert not missing, f"topics without a KafkaTopic: {sorted(missing)}"
    cluster = kafka_cluster(base)["metadata"]["name"]
    for topic, doc in declared.items():
        spec = doc["spec"]
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] == cluster, topic
        assert spec["replicas"] == 3, f"{topic}: replicas {spec['replicas']}"
        assert int(spec["config"]["min.insync.replicas"]) == 2, f"{topic}: min.insync.replicas"
        assert int(spec["config"]["max.message.bytes"]) == MAX_MESSAGE_BYTES, f"{topic}: max.message.bytes"
        assert isinstance(spec["partitions"], int) and spec["partitions"] >= 1, topic
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", doc["metadata"]["name"]), topic
    stray = set(declared) - bus_topics()
    assert not stray, f"KafkaTopics for topics the code does not use: {sorted(stray)}"


# --- what the services consume and produce, read from the apps themselves -----------------------------

APP_CONTRACT = """
import importlib, json, sys
from dossierbus_shared.db import metadata
contracts = {}
for name in sys.argv[1:]:
    service = importlib.import_module(f"dossierbus_{name}.app").service
    contracts[name] = {"consumes": service.consumes, "produces": service.produces,
                       "group": service.settings.consumer_group, "port": service.settings.http_port}
    metadata.clear()  # services define tables of the same name, each in its own schema
print(json.dumps(contracts))
"""


def read_contracts(directory: Path) -> dict[str, dict[str, Any]]:
    """What each app passes to its Service, read by importing the apps in a process of their own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "OTEL_", "DATABASE_"))}
    result = subprocess.run(
        [sys.executable, "-c", APP_CONTRACT, *SETTINGS],
        capture_output=True,
        text=True,
        cwd=directory,  # no .env file
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, dict[str, Any]] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


@pytest.fixture(scope="module")
def contracts(background: Background) -> dict[str, dict[str, Any]]:
    return background.contracts.result()


def test_the_generator_knows_what_each_app_consumes_and_produces(
    generator: ModuleType, contracts: dict[str, dict[str, Any]]
) -> None:
    specs = {spec.name: spec for spec in generator.services()}
    assert set(specs) == set(SETTINGS) | {"console"}
    assert not specs["console"].consumes and not specs["console"].produces
    for name, contract in contracts.items():
        spec = specs[name]
        assert sorted(spec.consumes) == sorted(contract["consumes"]), f"{name} consumes"
        assert sorted(spec.produces) == sorted(contract["produces"]), f"{name} produces"
        assert spec.port == contract["port"]
        if contract["consumes"]:
            assert spec.consumer_group == contract["group"]


def test_every_topic_a_service_creates_is_declared(
    base: list[Doc], contracts: dict[str, dict[str, Any]]
) -> None:
    declared = declared_topics(base)
    for name, contract in contracts.items():
        created = with_dlq(contract["consumes"]) + contract["produces"]  # Service.start's ensure_topics
        missing = sorted(set(created) - set(declared))
        assert not missing, f"{name} creates topics that have no KafkaTopic: {missing}"


# --- users and ACLs ---------------------------------------------------------------------------------

Rule = tuple[str, str, str, str]  # resource type, name, pattern type, operation


def acl_rules(user: Doc) -> set[Rule]:
    rules = set()
    for entry in user["spec"]["authorization"]["acls"]:
        resource = entry["resource"]
        operations = entry.get("operations") or [entry["operation"]]
        for operation in operations:
            rules.add((resource["type"], resource["name"], resource.get("patternType", "literal"), operation))
    return rules


def allows(rules: set[Rule], kind: str, name: str, operation: str) -> bool:
    """Kafka's rule: Read, Write (and the others) imply Describe."""
    implied = {operation} | ({"Read", "Write"} if operation == "Describe" else set())
    return any(
        rule_kind == kind
        and op in implied
        and (rule_name == name if pattern == "literal" else name.startswith(rule_name))
        for rule_kind, rule_name, pattern, op in rules
    )


@pytest.fixture(scope="module")
def users(base: list[Doc]) -> dict[str, set[Rule]]:
    found = objects(base, "KafkaUser")
    cluster = kafka_cluster(base)["metadata"]["name"]
    for name, user in found.items():
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == cluster, name
        assert user["spec"]["authentication"]["type"] == "scram-sha-512", name
        assert user["spec"]["authorization"]["type"] == "simple", name
    return {name: acl_rules(user) for name, user in found.items()}


def test_acls_name_resources_and_grant_only_what_the_bus_uses(users: dict[str, set[Rule]]) -> None:
    for user, rules in users.items():
        for kind, name, pattern, operation in rules:
            assert kind in {"topic", "group"}, f"{user}: {kind} ACL"
            assert operation in ACL_OPERATIONS, f"{user}: {operation} on {name}"
            assert name not in {"*", ""} and pattern in {"literal", "prefix"}, f"{user}: {pattern} {name!r}"
            if pattern == "prefix":
                assert operation == "Describe" or (kind == "group" and operation == "Read"), (
                    f"{user}: {operation} on every {kind} named {name}*: name them one by one"
                )


@pytest.mark.parametrize("code", sorted(default_catalogue().agencies))
def test_each_agency_reads_only_its_inbox_and_writes_only_its_reports(
    code: str, users: dict[str, set[Rule]]
) -> None:
    inbox, reports = agency_topics(code)
    user = f"agency-{code}"
    assert user in users, f"agency {code} has no KafkaUser {user}"
    assert users[user] == {
        ("topic", inbox, "literal", "Read"),
        ("group", f"agency.{code}", "literal", "Read"),  # the reference agency's group
        ("topic", reports, "literal", "Write"),
    }
    # Nobody else reads this agency's assignments (but the registry, which lets an agency look up only the
    # dossiers it is assigned) or writes reports in its name; routing is the one service on the other
    # side of both topics.
    readers = {name for name, rules in users.items() if allows(rules, "topic", inbox, "Read")}
    writers = {name for name, rules in users.items() if allows(rules, "topic", reports, "Write")}
    expected_readers = {user, "dossierbus-registry"}
    assert readers == expected_readers, f"{inbox} is readable by {sorted(readers - expected_readers)}"
    # Besides the agency, only the DLQ replay puts records on its reports topic: the agency's own
    # records, unchanged (and signed by the agency), that routing once failed to process.
    assert writers == {user, "dossierbus-operator"}, f"{reports} is writable by {sorted(writers - {user})}"
    assert {n for n, r in users.items() if allows(r, "topic", inbox, "Write")} == {
        "dossierbus-routing",
        "dossierbus-operator",
    }
    assert {n for n, r in users.items() if allows(r, "topic", reports, "Read")} == {"dossierbus-routing"}
    assert {n for n, r in users.items() if allows(r, "group", f"agency.{code}", "Read")} == {user}


@pytest.mark.parametrize("code", sorted(default_catalogue().agencies))
def test_each_agency_has_quotas(code: str, base: list[Doc]) -> None:
    quotas = objects(base, "KafkaUser")[f"agency-{code}"]["spec"].get("quotas", {})
    for quota in ("producerByteRate", "consumerByteRate"):
        assert isinstance(quotas.get(quota), int) and quotas[quota] > 0, f"agency-{code}: no {quota}"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_each_service_may_use_exactly_its_topics(
    service: str, users: dict[str, set[Rule]], contracts: dict[str, dict[str, Any]]
) -> None:
    contract = contracts[service]
    rules = users[f"dossierbus-{service}"]
    expected = {("topic", topic, "literal", "Read") for topic in contract["consumes"]}
    expected |= {("topic", topic + DLQ_SUFFIX, "literal", "Write") for topic in contract["consumes"]}
    expected |= {("topic", topic, "literal", "Write") for topic in contract["produces"]}
    if contract["consumes"]:
        expected.add(("group", contract["group"], "literal", "Read"))
    # Beyond those, a service may only look (Describe), e.g. registry at agency topics when onboarding.
    assert {rule for rule in rules if rule[3] != "Describe"} == expected


def test_the_operator_can_replay_every_dead_letter(users: dict[str, set[Rule]]) -> None:
    rules = users["dossierbus-operator"]
    for topic in bus_topics():
        if topic.endswith(DLQ_SUFFIX):
            assert allows(rules, "topic", topic, "Read")
            assert allows(rules, "topic", topic.removesuffix(DLQ_SUFFIX), "Write")
    assert allows(rules, "group", "dossierbus.dlq-replay.dossier.submitted.dlq", "Read")


# --- the services -----------------------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_every_variable_is_a_setting(service: str, base: list[Doc]) -> None:
    fields = {field.upper() for field in SETTINGS[service].model_fields}
    variables = environment(base, deployment_of(base, service))
    unknown = sorted(
        v for v in variables if v not in fields and not v.startswith("OTEL_") and v not in DOWNWARD_API
    )
    assert not unknown, f"{service} sets variables its {SETTINGS[service].__name__} does not read: {unknown}"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_the_settings_accept_the_configuration(
    service: str, base: list[Doc], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in os.environ:
        if name.upper() in {f.upper() for f in SETTINGS[service].model_fields}:
            monkeypatch.delenv(name)
    for name, value in environment(base, deployment_of(base, service)).items():
        monkeypatch.setenv(name, value if isinstance(value, str) else f"<{name} from a Secret>")
    settings = SETTINGS[service]()  # raises on a bad or incomplete value
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.http_host == "0.0.0.0"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_kafka_connection_matches_the_cluster_and_the_user(service: str, base: list[Doc]) -> None:
    deployment = deployment_of(base, service)
    env = environment(base, deployment)
    kafka = kafka_cluster(base)
    cluster = kafka["metadata"]["name"]
    host, _, port = str(env["KAFKA_BOOTSTRAP_SERVERS"]).partition(":")
    assert host == f"{cluster}-kafka-bootstrap", "the bootstrap Service Strimzi creates"
    listener = next(lst for lst in kafka["spec"]["kafka"]["listeners"] if lst["port"] == int(port))
    assert listener["type"] == "internal" and listener["tls"] is True
    assert (env["KAFKA_SECURITY_PROTOCOL"], env["KAFKA_SASL_MECHANISM"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert listener["authentication"]["type"] == "scram-sha-512"
    user = env["KAFKA_SASL_USERNAME"]
    assert user == f"dossierbus-{service}" and user in objects(base, "KafkaUser")
    assert secret_ref(env["KAFKA_SASL_PASSWORD"]) == (user, "password"), (
        "the Secret Strimzi writes for the user"
    )
    # KAFKA_SSL_CAFILE is the cluster CA, mounted from the Secret Strimzi keeps it in.
    pod = deployment["spec"]["template"]["spec"]
    cafile = Path(str(env["KAFKA_SSL_CAFILE"]))
    mount = next(m for m in container(deployment)["volumeMounts"] if Path(m["mountPath"]) == cafile.parent)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == f"{cluster}-cluster-ca-cert"
    assert {"key": "ca.crt", "path": cafile.name} in volume["secret"]["items"]


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_image_port_probes_and_service(service: str, base: list[Doc]) -> None:
    deployment = deployment_of(base, service)
    spec = container(deployment)
    port = SETTINGS[service].model_fields["http_port"].default
    assert spec["image"].rsplit("/", 1)[-1].split(":")[0] == f"dossierbus-{service}", "the Dockerfile's image"
    assert spec["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert environment(base, deployment)["HTTP_PORT"] == str(port)
    for probe, path in (
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
    ):
        assert spec[probe]["httpGet"]["path"] == path and spec[probe]["httpGet"]["port"] == "http", probe
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    kube_service = objects(base, "Service")[f"dossierbus-{service}"]
    assert kube_service["spec"]["selector"].items() <= pod_labels.items()
    assert [(p["port"], p["targetPort"]) for p in kube_service["spec"]["ports"]] == [(port, "http")]
    budget = objects(base, "PodDisruptionBudget")[f"dossierbus-{service}"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_settings_naming_another_service_reach_its_kubernetes_service(service: str, base: list[Doc]) -> None:
    env = environment(base, deployment_of(base, service))
    for field in SETTINGS[service].model_fields:
        target = field.removesuffix("_url")
        if field.endswith("_url") and target in SETTINGS:
            url = urlsplit(str(env.get(field.upper(), "")))
            kube_service = objects(base, "Service").get(str(url.hostname), {"spec": {"ports": []}})
            ports = [p["port"] for p in kube_service["spec"]["ports"]]
            assert url.hostname == f"dossierbus-{target}" and url.port in ports, f"{service}: {field.upper()}"


def test_a_setting_named_after_a_service_gets_its_in_cluster_url(generator: ModuleType) -> None:
    """How e.g. REGISTRY_URL is set: the rule the generator applies to every such setting."""

    class WithRegistry(ServiceSettings):
        service_name: str = "with-registry"
        registry_url: str = "http://127.0.0.1:8002"
        notifications_url: str = "http://127.0.0.1:8004"
        webhook_url: str | None = None

    assert generator.service_url_settings(WithRegistry) == {
        "REGISTRY_URL": "http://dossierbus-registry:8002",
        "NOTIFICATIONS_URL": "http://dossierbus-notifications:8004",
    }


def test_every_pod_runs_locked_down(base: list[Doc]) -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    image_uid = int(re.search(r"useradd [^\n]*--uid (\d+)", dockerfile).group(1))  # type: ignore[union-attr]
    for name, deployment in objects(base, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, f"{name} does not talk to the API server"
        if name.startswith("dossierbus-"):
            assert pod["securityContext"]["runAsUser"] == image_uid, f"{name}: the image's user"
        for spec in pod["containers"]:
            security = spec["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            resources = spec["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[bound]), f"{name}: {bound}"
            assert "livenessProbe" in spec and "readinessProbe" in spec, name


def test_every_secret_and_config_map_is_deployed_or_provided(base: list[Doc]) -> None:
    """Secrets come from the manifests, from Strimzi (one per KafkaUser, and the cluster CA), or from
    the operator (documented in deploy/README.md); a missing one would keep pods from starting."""
    cluster = kafka_cluster(base)["metadata"]["name"]
    available = (
        set(objects(base, "Secret")) | set(objects(base, "KafkaUser")) | {f"{cluster}-cluster-ca-cert"}
    )
    readme = DEPLOY_README.read_text(encoding="utf-8")
    for name in OPERATOR_SECRETS:
        assert f"`{name}`" in readme, f"deploy/README.md must say how to create the Secret {name}"
    config_maps = set(objects(base, "ConfigMap"))
    for deployment in objects(base, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        text = json.dumps(pod)
        for ref in re.findall(r'"secretKeyRef": (\{[^}]*\})', text):
            reference = json.loads(ref)
            if not reference.get("optional"):
                assert reference["name"] in available | OPERATOR_SECRETS, reference
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in available, volume
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, volume
    for auth in objects(base, "TriggerAuthentication").values():
        for ref in auth["spec"]["secretTargetRef"]:
            assert ref["name"] in available, ref


# --- scaling ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_each_service_scales_on_its_consumer_group(
    service: str, base: list[Doc], contracts: dict[str, dict[str, Any]]
) -> None:
    contract = contracts[service]
    name = f"dossierbus-{service}"
    deployment = deployment_of(base, service)
    assert "replicas" not in deployment["spec"], f"{name}: the autoscaler owns the replica count"
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in objects(base, "ScaledObject").values()}
    hpas = {d["spec"]["scaleTargetRef"]["name"]: d for d in objects(base, "HorizontalPodAutoscaler").values()}
    assert (name in scaled) != (name in hpas), f"{name}: exactly one autoscaler (KEDA makes its own HPA)"
    budget = objects(base, "PodDisruptionBudget")[name]["spec"]["maxUnavailable"]
    if not contract["consumes"]:
        assert hpas[name]["spec"]["minReplicas"] > budget
        return
    scaler = scaled[name]["spec"]
    assert scaler["scaleTargetRef"]["kind"] == "Deployment"
    assert scaler["minReplicaCount"] > budget, "a voluntary disruption must leave one pod"
    partitions = min(declared_topics(base)[topic]["spec"]["partitions"] for topic in contract["consumes"])
    assert scaler["maxReplicaCount"] <= partitions, "a consumer beyond the partition count would sit idle"
    (trigger,) = scaler["triggers"]
    metadata = trigger["metadata"]
    assert trigger["type"] == "kafka"
    assert metadata["consumerGroup"] == contract["group"] == SETTINGS[service]().consumer_group
    assert metadata["bootstrapServers"] == environment(base, deployment)["KAFKA_BOOTSTRAP_SERVERS"]
    assert (metadata["sasl"], metadata["tls"]) == ("scram_sha512", "enable")
    assert metadata.get("allowIdleConsumers", "false") == "false"
    auth = objects(base, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    by_parameter = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    keda_user = objects(base, "Secret")[by_parameter["username"]["name"]]["stringData"]["username"]
    assert by_parameter["password"]["name"] == keda_user, "the password Strimzi writes for that user"
    rules = acl_rules(objects(base, "KafkaUser")[keda_user])
    assert allows(rules, "group", contract["group"], "Describe")
    for topic in contract["consumes"]:
        assert allows(rules, "topic", topic, "Describe"), f"KEDA cannot see the lag of {topic}"
    assert not any(op in {"Read", "Write"} for *_, op in rules), "KEDA only looks"


# --- telemetry --------------------------------------------------------------------------------------


def collector_http_port(base: list[Doc]) -> tuple[str, int]:
    """The collector's Service and the Service port that reaches its OTLP/HTTP receiver."""
    deployment = objects(base, "Deployment")["otel-collector"]
    spec = container(deployment)
    config_path = Path(next(a.split("=", 1)[1] for a in spec["args"] if a.startswith("--config=")))
    mount = next(m for m in spec["volumeMounts"] if Path(m["mountPath"]) == config_path.parent)
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    config_map = objects(base, "ConfigMap")[volume["configMap"]["name"]]
    key = next(i["key"] for i in volume["configMap"]["items"] if i["path"] == config_path.name)
    config = yaml.safe_load(config_map["data"][key])
    assert "otlp" in config["service"]["pipelines"]["traces"]["receivers"]
    receiver_port = int(config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rsplit(":", 1)[1])
    named = {p["name"]: p["containerPort"] for p in spec["ports"]}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for name, service in objects(base, "Service").items():
        if service["spec"]["selector"].items() <= pod_labels.items():
            for port in service["spec"]["ports"]:
                if named.get(port["targetPort"], port["targetPort"]) == receiver_port:
                    return name, port["port"]
    raise AssertionError("no Service reaches the collector's OTLP/HTTP receiver")


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_telemetry_goes_to_the_collector(service: str, base: list[Doc]) -> None:
    env = environment(base, deployment_of(base, service))
    endpoint = urlsplit(str(env["OTEL_EXPORTER_OTLP_ENDPOINT"]))
    # The services export OTLP over HTTP/protobuf (telemetry/provider.py): the collector's HTTP receiver.
    assert (endpoint.hostname, endpoint.port) == collector_http_port(base)
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    service_name = SETTINGS[service].model_fields["service_name"].default
    assert env["OTEL_SERVICE_NAME"] == f"dossierbus-{service_name}"


def test_the_collector_exports_to_a_configured_backend(base: list[Doc]) -> None:
    deployment = objects(base, "Deployment")["otel-collector"]
    config = yaml.safe_load(objects(base, "ConfigMap")["otel-collector"]["data"]["config.yaml"])
    env = {e["name"]: e.get("value") for e in container(deployment)["env"]}
    for exporter in config["service"]["pipelines"]["traces"]["exporters"]:
        for variable in re.findall(r"\$\{env:(\w+)\}", json.dumps(config["exporters"][exporter])):
            assert env.get(variable), f"the collector's {exporter} reads {variable}, which is not set"


def test_the_console_reads_traces_from_the_backend_and_the_bus_as_the_operator(
    base: list[Doc], users: dict[str, set[Rule]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployment = deployment_of(base, "console")
    env = environment(base, deployment)
    # The trace waterfall reads the backend's query API, in production as in docker-compose.
    query = urlsplit(str(env["TRACE_QUERY_URL"]))
    assert query.scheme == "http" and query.hostname and query.port, env["TRACE_QUERY_URL"]
    for upstream in ("routing", "notifications"):
        assert env[f"{upstream.upper()}_URL"] == f"http://dossierbus-{upstream}:" + str(
            SETTINGS[upstream].model_fields["http_port"].default
        )
    # Lag, dead letters and their replay are operators' work: it connects as the operator's KafkaUser,
    # which may see every group's lag, and it keeps no database.
    assert env["KAFKA_SASL_USERNAME"] == "dossierbus-operator"
    assert secret_ref(env["KAFKA_SASL_PASSWORD"]) == ("dossierbus-operator", "password")
    assert "dossierbus-console" not in users
    for group in ("dossierbus.routing", "agency.justice-hanoi"):
        assert allows(users["dossierbus-operator"], "group", group, "Describe"), group
    assert "DATABASE_URL" not in env
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value if isinstance(value, str) else f"<{name} from a Secret>")
    settings = ConsoleSettings()
    assert settings.trace_query_url == env["TRACE_QUERY_URL"]
    assert container(deployment)["image"] == "dossierbus-console"


def test_each_service_reaches_the_database_with_its_own_roles(base: list[Doc]) -> None:
    """One Secret per service holds its DATABASE_URL (its own role) and DATABASE_MIGRATION_URL (its
    schema's owner): no service is given another's credentials or a shared superuser."""
    for service in SERVICES_WITH_DATABASE:
        env = environment(base, deployment_of(base, service))
        secret = f"dossierbus-{service}-database"
        assert secret_ref(env["DATABASE_URL"]) == (secret, "DATABASE_URL")
        assert secret_ref(env["DATABASE_MIGRATION_URL"]) == (secret, "DATABASE_MIGRATION_URL")
    readme = DEPLOY_README.read_text(encoding="utf-8")
    assert "dossierbus_shared.db.roles" in readme, "deploy/README.md must say how to make the roles"

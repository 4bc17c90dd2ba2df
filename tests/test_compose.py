"""docker-compose.yml and deploy/ checked against the code, since no Docker engine runs in CI.

Every port, variable and host name the compose stack relies on is compared with where the code defines
it: the services' Settings classes, the workspace packages, the event catalogue, the collector config
and the Dockerfile. Renaming a setting, changing a port or adding a workspace member without updating
the stack makes one of these fail.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from dossierbus_console.settings import ConsoleSettings
from dossierbus_intake.settings import IntakeSettings
from dossierbus_notifications.settings import NotificationsSettings
from dossierbus_registry.settings import RegistrySettings
from dossierbus_routing.settings import RoutingSettings
from dossierbus_shared.catalogue import default_catalogue
from dossierbus_shared.db.roles import SERVICES_WITH_DATABASE, development_passwords, owner_role
from dossierbus_shared.db.roles import script as roles_script
from dossierbus_shared.kafka import MAX_MESSAGE_BYTES
from dossierbus_shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"

SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "registry": RegistrySettings,
    "routing": RoutingSettings,
    "notifications": NotificationsSettings,
}
HTTP_SERVICES: dict[str, type[ServiceSettings]] = {**SETTINGS, "console": ConsoleSettings}
"""Everything served over HTTP: the bus services and the operator console (which has no database)."""
PACKAGE_PREFIX = "dossierbus-"


# --- reading the files ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment in either compose syntax (mapping or list of NAME=value)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {name: "" if value is None else str(value) for name, value in raw.items()}


def published_ports(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) pairs, from the short ("[ip:]host:container[/proto]") or long syntax."""
    pairs = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            pairs.append((int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) == 1:
            raise AssertionError(f"port {entry!r} publishes a random host port: give host:container")
        pairs.append((int(parts[-2]), int(parts[-1])))
    return pairs


def healthcheck_url(service: dict[str, Any]) -> tuple[str, int, str]:
    """(host, port, path) of the URL the healthcheck requests."""
    test = service["healthcheck"]["test"]
    command = " ".join(test) if isinstance(test, list) else str(test)
    match = re.search(r"https?://([\w.-]+):(\d+)(/[\w/.-]*)", command)
    assert match, f"no http://host:port/path in healthcheck {command!r}"
    return match.group(1), int(match.group(2)), match.group(3)


def host_and_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition (short syntax means service_started)."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def kafka_listeners(variable: str, kafka_env: dict[str, str]) -> dict[str, tuple[str, int]]:
    """Listener name -> (host, port) from KAFKA_LISTENERS or KAFKA_ADVERTISED_LISTENERS."""
    listeners = {}
    for item in kafka_env[variable].split(","):
        name, _, address = item.strip().partition("://")
        listeners[name] = host_and_port(address)
    return listeners


def workspace_packages() -> dict[str, Path]:
    """Package name -> directory, for every member of the uv workspace in the root pyproject.toml."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {}
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for directory in sorted(ROOT.glob(pattern)):
            pyproject = directory / "pyproject.toml"
            if pyproject.is_file():
                name = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
                packages[name] = directory
    return packages


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined; comments and heredoc bodies left out."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    heredoc_end: str | None = None
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if heredoc_end is not None:
            if line.strip() == heredoc_end:
                heredoc_end = None
            continue
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        heredoc = re.search(r"<<-?[\"']?(\w+)[\"']?", arguments)
        if heredoc:
            heredoc_end = heredoc.group(1)
    return instructions


def collector_service(services: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    found = [(name, s) for name, s in services.items() if "opentelemetry-collector" in s.get("image", "")]
    assert len(found) == 1, f"expected one OpenTelemetry collector service, found {[n for n, _ in found]}"
    return found[0]


def collector_config_path(collector: dict[str, Any]) -> tuple[Path, str]:
    """The host file mounted as the collector's --config, and where it is mounted."""
    command = collector.get("command") or []
    command = " ".join(command) if isinstance(command, list) else str(command)
    match = re.search(r"--config[= ](\S+)", command)
    target = match.group(1) if match else "/etc/otelcol-contrib/config.yaml"  # the image's default
    for volume in collector.get("volumes") or []:
        source, _, rest = str(volume).partition(":")
        if rest.split(":")[0] == target:
            return (ROOT / source).resolve(), target
    raise AssertionError(f"the collector reads {target} but no volume mounts a file there")


# --- the services -------------------------------------------------------------------------------------


def test_every_service_is_in_compose(services: dict[str, dict[str, Any]]) -> None:
    missing = set(HTTP_SERVICES) - set(services)
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(HTTP_SERVICES))
def test_http_port_is_the_settings_default_everywhere(name: str, services: dict[str, dict[str, Any]]) -> None:
    port = HTTP_SERVICES[name].model_fields["http_port"].default
    service = services[name]
    assert environment(service).get("HTTP_PORT") == str(port), f"{name}: HTTP_PORT must be {port}"
    assert published_ports(service) == [(port, port)], f"{name}: publish {port}:{port}"
    host, health_port, path = healthcheck_url(service)
    assert (host, health_port, path) in {("127.0.0.1", port, "/readyz"), ("localhost", port, "/readyz")}


@pytest.mark.parametrize("name", sorted(HTTP_SERVICES))
def test_every_variable_is_a_setting(name: str, services: dict[str, dict[str, Any]]) -> None:
    settings = HTTP_SERVICES[name]
    fields = {field.upper() for field in settings.model_fields}
    variables = environment(services[name])
    unknown = sorted(var for var in variables if var not in fields and not var.startswith("OTEL_"))
    assert not unknown, f"{name} sets variables its {settings.__name__} does not read: {unknown}"


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_database_url_is_the_postgres_service_as_the_services_own_role(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    """Each service connects as its own role and migrates as its schema's owner, never as the superuser."""
    env = environment(services[name])
    for variable, role in (("DATABASE_URL", name), ("DATABASE_MIGRATION_URL", owner_role(name))):
        url = make_url(env[variable])
        postgres = environment(services[url.host or ""]) if url.host in services else {}
        assert url.get_backend_name() == "postgresql" and "POSTGRES_DB" in postgres, (
            f"{name}: {variable} host {url.host!r} is not a PostgreSQL service of the stack"
        )
        assert (url.username, url.password, url.database) == (
            role,
            development_passwords()[role],
            postgres["POSTGRES_DB"],
        )
        assert url.username != postgres["POSTGRES_USER"], f"{name}: {variable} is the superuser"
        assert url.port in (None, 5432), "the postgres container listens on 5432"


def test_the_database_roles_are_made_when_postgres_is_initialised(
    services: dict[str, dict[str, Any]],
) -> None:
    postgres = environment(services["postgres"])
    mounted = {
        target: ROOT / source.removeprefix("./")
        for source, target, *_ in (str(volume).split(":") for volume in services["postgres"]["volumes"])
    }
    [init] = [path for target, path in mounted.items() if target.startswith("/docker-entrypoint-initdb.d/")]
    assert init == ROLES_SQL
    assert ROLES_SQL.read_text(encoding="utf-8") == roles_script(
        postgres["POSTGRES_DB"], development_passwords()
    ), "deploy/postgres/roles.sql is stale: python -m dossierbus_shared.db.roles --development > it"
    assert set(SERVICES_WITH_DATABASE) == set(SETTINGS)


@pytest.mark.parametrize("name", sorted(HTTP_SERVICES))
def test_kafka_bootstrap_is_an_advertised_listener(name: str, services: dict[str, dict[str, Any]]) -> None:
    kafka_env = environment(services["kafka"])
    advertised = kafka_listeners("KAFKA_ADVERTISED_LISTENERS", kafka_env)
    bound = kafka_listeners("KAFKA_LISTENERS", kafka_env)
    for address in environment(services[name])["KAFKA_BOOTSTRAP_SERVERS"].split(","):
        host, port = host_and_port(address.strip())
        listener = next((lname for lname, where in advertised.items() if where == (host, port)), None)
        assert listener, f"{name}: {address} is not one of Kafka's advertised listeners {advertised}"
        assert host == "kafka", f"{name}: containers must use the compose-network listener, not {host}"
        assert bound[listener][1] == port, f"listener {listener} is advertised on {port} but bound elsewhere"


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_telemetry_goes_to_the_collector(name: str, services: dict[str, dict[str, Any]]) -> None:
    env = environment(services[name])
    collector_name, collector = collector_service(services)
    config_file, _ = collector_config_path(collector)
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    _, http_port = host_and_port(config["receivers"]["otlp"]["protocols"]["http"]["endpoint"])
    endpoint = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
    # The services export OTLP over HTTP/protobuf (telemetry/provider.py): the collector's HTTP receiver.
    assert (endpoint.hostname, endpoint.port) == (collector_name, http_port)
    assert env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") == "http/protobuf"
    service_name = SETTINGS[name].model_fields["service_name"].default
    assert env.get("OTEL_SERVICE_NAME", f"dossierbus-{service_name}") == f"dossierbus-{service_name}"


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_dependencies_are_waited_for(name: str, services: dict[str, dict[str, Any]]) -> None:
    """Every host a service is configured to reach is a compose service it depends on; the ones it
    needs at start-up (database migrations, topic creation) must be healthy first."""
    env = environment(services[name])
    hosts = {
        make_url(env["DATABASE_URL"]).host: "service_healthy",
        urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"]).hostname: "service_started",
    }
    for address in env["KAFKA_BOOTSTRAP_SERVERS"].split(","):
        hosts[host_and_port(address.strip())[0]] = "service_healthy"
    if "smtp_host" in SETTINGS[name].model_fields:
        assert "SMTP_HOST" in env, f"{name} sends mail: point SMTP_HOST at the mail sink"
        hosts[env["SMTP_HOST"]] = "service_started"
    waits = depends_on(services[name])
    for host, condition in hosts.items():
        assert host in services, f"{name} reaches {host!r}, which is not a service of the stack"
        assert host in waits, f"{name} must depend_on {host}"
        if condition == "service_healthy":
            assert waits[host] == "service_healthy", f"{name} must wait until {host} is healthy"
            assert "healthcheck" in services[host], f"{host} needs a healthcheck for service_healthy"


def test_the_console_reads_the_services_it_links_to(services: dict[str, dict[str, Any]]) -> None:
    """ROUTING_URL and NOTIFICATIONS_URL are those services on the compose network at their own ports; the
    console waits for the broker, and its trace links point at the tracing UI published on the host."""
    console = services["console"]
    env = environment(console)
    waits = depends_on(console)
    for target in ("routing", "notifications"):
        url = urlsplit(env[f"{target.upper()}_URL"])
        assert (url.hostname, url.port) == (target, SETTINGS[target].model_fields["http_port"].default)
        assert target in waits, f"console must depend_on {target}"
    assert waits.get("kafka") == "service_healthy"
    ConsoleSettings(trace_ui_url=env["TRACE_UI_URL"])  # validates the {trace_id} placeholder
    trace_ui = urlsplit(env["TRACE_UI_URL"])
    jaeger_ports = {host for host, _ in published_ports(services["jaeger"])}
    assert trace_ui.hostname == "localhost" and trace_ui.port in jaeger_ports


def test_smtp_port_is_the_mail_sinks_smtp_port(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["notifications"])
    assert env["SMTP_HOST"] in services, f"SMTP_HOST {env['SMTP_HOST']!r} is not a service of the stack"
    sink = environment(services[env["SMTP_HOST"]])
    _, smtp_port = host_and_port(sink["MP_SMTP_BIND_ADDR"])
    assert env.get("SMTP_PORT") == str(smtp_port), "SMTP_PORT must be the mail sink's SMTP port"


# --- images ------------------------------------------------------------------------------------------


def test_every_built_service_names_a_workspace_package(services: dict[str, dict[str, Any]]) -> None:
    packages = workspace_packages()
    built = {name: s["build"] for name, s in services.items() if "build" in s}
    assert set(HTTP_SERVICES) <= set(built), "every bus service is built from this repository"
    for name, build in built.items():
        assert (ROOT / build.get("context", ".")).resolve() == ROOT, f"{name}: build from the repository root"
        assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE, f"{name}: build with deploy/Dockerfile"
        package = PACKAGE_PREFIX + str(build["args"]["SERVICE"])
        assert package in packages, f"{name}: SERVICE names no workspace package ({package})"
        if name in HTTP_SERVICES:
            assert build["args"]["SERVICE"] == name
            module = package.replace("-", "_")
            assert (packages[package] / module / "app.py").is_file(), f"the image runs {module}.app:app"


def test_the_dockerfile_installs_and_runs_the_named_package() -> None:
    instructions = dockerfile_instructions()
    assert ("ARG", "SERVICE") in instructions
    syncs = [args for keyword, args in instructions if keyword == "RUN" and "uv sync" in args]
    assert syncs, "the image installs with uv sync"
    for args in syncs:
        assert re.search(r"--package\s+\"?dossierbus-\$\{?SERVICE\}?\"?", args), args
        assert "--frozen" in args and "--no-dev" in args, args
    command = next(args for keyword, args in reversed(instructions) if keyword == "CMD")
    assert "uvicorn" in command and "dossierbus_${SERVICE}.app:app" in command and "HTTP_PORT" in command
    user = next(args for keyword, args in reversed(instructions) if keyword == "USER")
    assert user.split(":")[0] not in {"root", "0"}, "the service must not run as root"


def test_the_dockerfile_copies_every_workspace_member_before_syncing() -> None:
    """uv reads the pyproject.toml of every workspace member, even to install one package's dependencies."""
    instructions = dockerfile_instructions()
    first_sync = next(i for i, (kw, args) in enumerate(instructions) if kw == "RUN" and "uv sync" in args)
    copied = [
        Path(source)
        for keyword, args in instructions[:first_sync]
        if keyword == "COPY" and "--from" not in args
        for source in args.split()[:-1]
    ]
    for package, directory in workspace_packages().items():
        member = (directory / "pyproject.toml").relative_to(ROOT)
        assert any(member == source or source in member.parents for source in copied), (
            f"deploy/Dockerfile does not copy {member} ({package}) before `uv sync`"
        )


def test_the_dockerfile_copies_only_files_that_exist() -> None:
    missing = [
        source
        for keyword, args in dockerfile_instructions()
        if keyword == "COPY" and "--from" not in args
        for source in args.split()[:-1]
        if not (ROOT / source).exists()
    ]
    hint = " (run `uv lock` and commit uv.lock)" if "uv.lock" in missing else ""
    assert not missing, f"deploy/Dockerfile copies files the repository lacks: {missing}{hint}"


# --- the infrastructure ------------------------------------------------------------------------------


def test_kafka_runs_kraft_without_topic_auto_creation(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    # The services create their topics (and DLQs) at start-up; production brokers do not auto-create.
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    # No record larger than the services can dead-letter.
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) == MAX_MESSAGE_BYTES
    advertised = kafka_listeners("KAFKA_ADVERTISED_LISTENERS", env)
    bound = kafka_listeners("KAFKA_LISTENERS", env)
    published = dict(published_ports(services["kafka"]))
    for listener, (host, port) in advertised.items():
        assert bound[listener][1] == port, f"Kafka listener {listener} advertised on {port}, bound elsewhere"
        if host in {"localhost", "127.0.0.1"}:
            assert published.get(port) == port, f"the host listener {listener} must be published on {port}"


def test_collector_sends_traces_to_a_service_of_the_stack(services: dict[str, dict[str, Any]]) -> None:
    collector_name, collector = collector_service(services)
    config_file, _ = collector_config_path(collector)
    assert config_file.is_file(), f"{config_file} is mounted into the collector but does not exist"
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    pipeline = config["service"]["pipelines"]["traces"]
    assert "otlp" in pipeline["receivers"]
    targets = [
        urlsplit("//" + config["exporters"][exporter]["endpoint"]).hostname
        for exporter in pipeline["exporters"]
        if "endpoint" in config["exporters"][exporter]
    ]
    assert targets, "the traces pipeline exports nowhere"
    for target in targets:
        assert target in services, f"the collector exports to {target!r}, not a service of the stack"
        assert target in depends_on(collector), f"{collector_name} must depend_on {target}"


def test_reference_agency_serves_a_catalogue_agency(services: dict[str, dict[str, Any]]) -> None:
    agency = services["reference-agency"]
    command = agency["command"]
    command = command if isinstance(command, list) else command.split()
    package = PACKAGE_PREFIX + agency["build"]["args"]["SERVICE"]
    pyproject = tomllib.loads((workspace_packages()[package] / "pyproject.toml").read_text(encoding="utf-8"))
    assert command[0] in pyproject["project"]["scripts"], f"{command[0]} is not a console script of {package}"
    options = dict(zip(command[1::2], command[2::2], strict=False))
    assert options["--agency"] in default_catalogue().agencies
    host, port = host_and_port(options["--bootstrap"])
    advertised = kafka_listeners("KAFKA_ADVERTISED_LISTENERS", environment(services["kafka"]))
    assert (host, port) in advertised.values() and host == "kafka"
    # Routing creates the agency topics at start-up; the broker does not auto-create them.
    assert depends_on(agency).get("routing") == "service_healthy"


def test_no_two_services_publish_the_same_host_port(services: dict[str, dict[str, Any]]) -> None:
    seen: dict[int, str] = {}
    for name, service in services.items():
        for host_port, _ in published_ports(service):
            assert host_port not in seen, f"{name} and {seen[host_port]} both publish host port {host_port}"
            seen[host_port] = name

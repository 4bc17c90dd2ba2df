"""KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_CAFILE: from the environment to every Kafka client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from ssl import SSLContext

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateTopicsResponse_v3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from dossierbus_shared.dlq import cli as dlq_cli
from dossierbus_shared.kafka import KafkaSecurity, creation_failures
from dossierbus_shared.settings import ServiceSettings

CA_NAME = "dossierbus test cluster CA"


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    """A self-signed CA certificate in PEM, like the one Strimzi puts in <cluster>-cluster-ca-cert."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "ca.crt"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_MECHANISM",
        "KAFKA_SASL_USERNAME",
        "KAFKA_SASL_PASSWORD",
        "KAFKA_SSL_CAFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def trusted_names(context: SSLContext) -> set[str]:
    return {
        value
        for cert in context.get_ca_certs()
        for rdn in cert["subject"]
        for key, value in rdn
        if key == "commonName"
    }


def scram_over_tls(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> ServiceSettings:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "dossierbus-routing")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", str(ca_file))
    return ServiceSettings()


def test_plaintext_by_default() -> None:
    security = KafkaSecurity.from_settings(ServiceSettings())
    assert security.client_options() == {"security_protocol": "PLAINTEXT"}


def test_scram_over_tls_from_the_environment(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    security = KafkaSecurity.from_settings(scram_over_tls(monkeypatch, ca_file))
    options = security.client_options()
    context = options.pop("ssl_context")
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "dossierbus-routing",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(context, SSLContext) and context.check_hostname
    assert CA_NAME in trusted_names(context), "the brokers' CA from KAFKA_SSL_CAFILE is trusted"
    assert "s3cret" not in repr(security)


def test_tls_without_sasl(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", str(ca_file))
    security = KafkaSecurity.from_settings(ServiceSettings())
    options = security.client_options()
    assert options["security_protocol"] == "SSL" and "sasl_mechanism" not in options
    assert CA_NAME in trusted_names(options["ssl_context"])


async def test_aiokafka_clients_accept_the_options(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    """aiokafka checks SASL and TLS arguments when a client is built (no broker is contacted here)."""
    options = KafkaSecurity.from_settings(scram_over_tls(monkeypatch, ca_file)).client_options()
    AIOKafkaProducer(bootstrap_servers="kafka:9093", **options)
    AIOKafkaConsumer(bootstrap_servers="kafka:9093", **options)
    AIOKafkaAdminClient(bootstrap_servers="kafka:9093", **options)


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"},
            "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, "is not SASL"),
        ({"KAFKA_SSL_CAFILE": "/etc/kafka-ca/ca.crt"}, "is not TLS"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM"),
    ],
)
def test_incomplete_or_contradictory_security_is_refused(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], message: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as raised:
        ServiceSettings()
    assert message.lower() in str(raised.value).lower()


def test_topics_that_could_not_be_created_are_reported() -> None:
    """What a broker with ACLs answers a service that may not create topics (error 29), next to topics
    created (0) or created meanwhile by another service (36)."""
    response = CreateTopicsResponse_v3(
        throttle_time_ms=0,
        topic_errors=[
            ("dossier.submitted", 0, None),
            ("dossier.verified", 36, "Topic 'dossier.verified' already exists."),
            ("agency.new-agency.inbox", 29, "Authorization failed."),
        ],
    )
    assert creation_failures(response.topic_errors) == {
        "agency.new-agency.inbox": "TopicAuthorizationFailedError: Authorization failed."
    }
    assert creation_failures([("dossier.submitted", 0)]) == {}


def test_the_dlq_tool_refuses_an_incomplete_security_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    assert dlq_cli.main(["list", "dossier.submitted.dlq"]) == 2
    assert "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD" in capsys.readouterr().err

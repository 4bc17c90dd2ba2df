"""The development stack's own promises: clear messages when a port is taken or a part fails to start,
nothing left running after a failed start, a clean shutdown of `dossierbus up` on Ctrl-C, and every part
it started stopped on SIGTERM or SIGHUP, or when it is killed outright (kill -9)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dossierbus_devstack.cli import replicas_option
from dossierbus_devstack.lifetime import STOP_SIGNALS
from dossierbus_devstack.parts import StackError, claim_port, free_block
from dossierbus_devstack.services import SERVICES, service_environment
from dossierbus_devstack.stack import DevStack, Ports, replica_counts

DOSSIERBUS = Path(sys.executable).parent / "dossierbus"
PARTS = (
    "tansu",
    "postgres",
    "oidc_provider_mock",
    "dossierbus_devstack.national_portal",
    "dossierbus_devstack.payment_gateway",
    *(f"dossierbus_{name}.app" for name in SERVICES),
)


@pytest.fixture
def occupied() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_taken_port_is_named_with_what_wanted_it(occupied: int) -> None:
    with pytest.raises(StackError, match=f"port {occupied} for the Kafka broker is taken by another program"):
        claim_port(occupied, "the Kafka broker")


def test_a_port_whose_server_has_stopped_is_free_while_its_connections_linger() -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn, Tansu and aiosmtpd do
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            served, _ = listener.accept()
            served.close()  # the server closes first, so its side lingers in TIME_WAIT
            client.recv(1)
    assert claim_port(port, "the Kafka broker") == port


async def test_a_taken_service_port_stops_the_start_and_leaves_nothing_running(
    occupied: int, kafka_bootstrap: str, database_url: str
) -> None:
    ports = Ports.free()
    ports = dataclasses.replace(ports, services={**ports.services, "routing": occupied})
    stack = DevStack(ports, kafka_bootstrap=kafka_bootstrap, database_url=database_url, agencies=False)
    with pytest.raises(StackError, match=f"port {occupied} for the routing service is taken"):
        async with stack:
            pass
    assert set(stack.services) == set(SERVICES)
    assert not any(service.process.running for service in stack.services.values())
    assert not stack.workdir.exists()


async def test_a_database_that_cannot_be_reached_is_reported(kafka_bootstrap: str) -> None:
    unreachable = "postgresql+asyncpg://postgres@127.0.0.1:1/dossierbus"
    stack = DevStack(kafka_bootstrap=kafka_bootstrap, database_url=unreachable, agencies=False)
    with pytest.raises(StackError) as failure:
        async with stack:
            pass
    message = str(failure.value)
    assert "cannot reach the database at postgresql+asyncpg://postgres@127.0.0.1:1/dossierbus" in message
    assert "Connect call failed" in message


async def test_a_service_that_cannot_start_is_reported_with_its_output(
    kafka_bootstrap: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERDUE_CHECK_INTERVAL_S", "not-a-number")  # passed on to routing, which refuses it
    stack = DevStack(kafka_bootstrap=kafka_bootstrap, database_url=database_url, agencies=False)
    with pytest.raises(StackError) as failure:
        async with stack:
            pass
    message = str(failure.value)
    assert "routing service exited with code" in message
    assert "last output" in message and "overdue_check_interval_s" in message


def test_replicas_are_asked_for_per_service() -> None:
    assert replicas_option("routing=2, notifications=3") == {"routing": 2, "notifications": 3}
    assert replica_counts({"routing": 2}) == {name: 2 if name == "routing" else 1 for name in SERVICES}
    for wrong in ("routing", "routing=two", "routing=-1", "=2"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not SERVICE=N"):
            replicas_option(wrong)
    with pytest.raises(StackError, match="no service named billing; the services are intake, registry"):
        replica_counts({"billing": 2})
    with pytest.raises(StackError, match="at least one replica: routing"):
        replica_counts({"routing": 0})


def test_topics_have_a_partition_for_each_replica_of_the_largest_group() -> None:
    alone = DevStack(kafka_bootstrap="127.0.0.1:9", database_url="postgresql://127.0.0.1:9/none")
    replicated = DevStack(
        kafka_bootstrap="127.0.0.1:9",
        database_url="postgresql://127.0.0.1:9/none",
        replicas={"routing": 3, "registry": 2},
    )
    try:
        assert (alone.topic_partitions, replicated.topic_partitions) == (2, 3)
    finally:
        for stack in (alone, replicated):
            shutil.rmtree(stack.workdir)


def test_up_names_the_taken_broker_port_and_exits_1(occupied: int) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    command = [DOSSIERBUS, "up", f"--kafka-port={occupied}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert f"port {occupied} for the Kafka broker is taken by another program" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.kafka  # `dossierbus up` starts its own broker and database: no fixture marks the test
@pytest.mark.db
def test_up_serves_until_ctrl_c_then_stops_every_part(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env["DOSSIERBUS_SPANS_DIR"] = str(tmp_path / "spans")
    # The broker, the SMTP sink, the OpenID provider, the national portal's and the payment platform's
    # simulators, the services.
    base = free_block(5 + len(SERVICES))
    http = base + 5
    ports = Ports.fixed(
        kafka=base,
        smtp=base + 1,
        http=http,
        oidc=base + 2,
        national_portal=base + 3,
        payment_gateway=base + 4,
    )
    command = [
        DOSSIERBUS,
        "up",
        f"--kafka-port={ports.kafka}",
        f"--smtp-port={ports.smtp}",
        f"--http-port={http}",
        f"--oidc-port={ports.oidc}",
        f"--national-portal-port={ports.national_portal}",
        f"--payment-gateway-port={ports.payment_gateway}",
        "--replicas=routing=2",
    ]
    up = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert up.stdout is not None
    output = []
    for line in up.stdout:
        output.append(line)
        if "Ctrl-C stops everything" in line or up.poll() is not None:
            break
    assert f"intake      http://127.0.0.1:{http}" in "".join(output), "".join(output)
    assert "2 replicas: routing http://127.0.0.1:" in "".join(output), "".join(output)
    # What README tells a user to do for a citizen's token, against the running stack.
    issuer = f"--issuer=http://127.0.0.1:{ports.oidc}"
    token = subprocess.run(
        [DOSSIERBUS, "token", "--citizen", "001090000001", issuer], capture_output=True, text=True, timeout=60
    )
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().count(".") == 2, "a signed JWT"
    # A request the services trace, so that the spans file has something in it.
    assert urllib_status(f"http://127.0.0.1:{http}/dossiers/000.00.01.H26-000000-0000") == 401
    parts = descendants(up.pid)
    for part in PARTS:
        assert any(part in cmd for cmd in parts.values()), f"{part} not running: {parts}"
    up.send_signal(signal.SIGINT)
    output.append(up.stdout.read())
    assert up.wait(timeout=60) == 0, "".join(output)
    assert wait_until_gone(parts) == {}
    simulators = [ports.national_portal, ports.payment_gateway]
    for port in [ports.kafka, ports.smtp, ports.oidc, *simulators, *ports.services.values()]:
        claim_port(port, "a check after shutdown")  # raises if anything still listens
    # The spans outlive the stack, where `up` said they are.
    [spans_file] = (tmp_path / "spans").glob("spans-*.jsonl")
    assert f"spans       {spans_file}" in "".join(output)
    assert f"the spans stay in {spans_file}" in "".join(output)
    assert spans_file.read_text(encoding="utf-8").strip(), "the services' spans are in it"


def urllib_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def descendants(pid: int) -> dict[int, str]:
    """Every live process below `pid`, with its command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (state := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = state[1]
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = _cmdline(child)
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    state = _stat(pid)
    return state is not None and state[0] != "Z"  # a zombie has stopped, whoever reaps it


def _stat(pid: int) -> tuple[str, int] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[0], int(fields[1])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def wait_until_gone(pids: dict[int, str], timeout_s: float = 60) -> dict[int, str]:
    """Those of `pids` still alive once all have gone or `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    while (left := {pid: cmd for pid, cmd in pids.items() if alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.mark.kafka  # `dossierbus up` starts its own broker and database: no fixture marks the test
@pytest.mark.db
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.timeout(600)  # a whole stack starts and stops; slow on a loaded machine
# SIGTERM and SIGHUP take the same path as SIGINT (lifetime.run_until_signalled, tested for each below;
# the whole stack is stopped by SIGINT above): the whole stack is started once more, for the death of `up`.
@pytest.mark.parametrize("signum", [signal.SIGKILL], ids=lambda s: s.name)
def test_up_stops_every_part_on_a_signal_or_its_own_death(signum: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    base = free_block(5 + len(SERVICES))
    command = [
        DOSSIERBUS,
        "up",
        f"--kafka-port={base}",
        f"--smtp-port={base + 1}",
        f"--oidc-port={base + 2}",
        f"--national-portal-port={base + 3}",
        f"--payment-gateway-port={base + 4}",
        f"--http-port={base + 5}",
    ]
    up = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert up.stdout is not None
        output = []
        for line in up.stdout:
            output.append(line)
            if "Ctrl-C stops everything" in line:
                break
        assert up.poll() is None, "".join(output)
        parts = descendants(up.pid)
        for part in PARTS:
            assert any(part in cmd for cmd in parts.values()), f"{part} not running: {parts}"
        assert sum("postgres:" in cmd for cmd in parts.values()) > 1, "PostgreSQL's own processes"

        up.send_signal(signum)
        if signum == signal.SIGKILL:
            assert up.wait(timeout=10) == -signal.SIGKILL
        else:
            output.append(up.stdout.read())
            assert up.wait(timeout=120) == 0, "".join(output)
        assert wait_until_gone(parts) == {}
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


LIFETIME_PROGRAM = """
import asyncio, sys
from pathlib import Path
from dossierbus_devstack.lifetime import run_until_signalled

async def main() -> None:
    print("running", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        Path(sys.argv[1]).write_text("stopped")  # what `async with DevStack()` does on the way out

sys.exit(run_until_signalled(main()) or 0)
"""


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_each_stop_signal_cancels_the_program_and_runs_its_clean_up(
    signum: signal.Signals, tmp_path: Path
) -> None:
    marker = tmp_path / "stopped"
    program = subprocess.Popen(
        [sys.executable, "-c", LIFETIME_PROGRAM, str(marker)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert program.stdout is not None and program.stdout.readline() == "running\n"
        program.send_signal(signum)
        assert program.wait(timeout=30) == signum
        assert marker.read_text() == "stopped"
    finally:
        if program.poll() is None:
            program.kill()
            program.wait()


def test_a_service_process_freezes_its_start_whatever_the_tests_say(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GC_FREEZE_AT_START", "false")  # as the test suite sets it for its own process
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("KEPT", "yes")
    environment = service_environment({"SERVICE_NAME": "routing"})
    assert "GC_FREEZE_AT_START" not in environment and "PYTHONDONTWRITEBYTECODE" not in environment
    assert environment["KEPT"] == "yes" and environment["SERVICE_NAME"] == "routing"

"""The bus services and the operator console, each replica a uvicorn process of its own, as in production."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from dossierbus_devstack.parts import ChildProcess, claim_port, wait_until_answering

SERVICES = ("intake", "registry", "routing", "notifications", "console")
CONSUMERS = ("intake", "registry", "routing", "notifications")
"""The services that consume events, each replica a member of the service's consumer group."""


def service_environment(env: Mapping[str, str]) -> dict[str, str]:
    """What a service process runs with: the stack's environment and `env`. Compiled bytecode is kept
    even where PYTHONDONTWRITEBYTECODE is set: without it every start compiles each module it imports
    again, several seconds of CPU per restart. A service process freezes its start-up objects out of the
    garbage collector's way, as in production, whatever the test suite that starts it does."""
    inherited = {name: value for name, value in os.environ.items() if name not in _NOT_INHERITED}
    return inherited | dict(env)


_NOT_INHERITED = frozenset({"PYTHONDONTWRITEBYTECODE", "GC_FREEZE_AT_START"})


class ServiceProcess:
    """One replica of a service. It serves on the service's `port` (shared by all its replicas) and on
    `own_port` (its alone); `replica` 0 is the first."""

    def __init__(
        self, name: str, replica: int, port: int, own_port: int, env: Mapping[str, str], logs: Path
    ) -> None:
        self.name = name
        self.replica = replica
        self.port = port
        self.own_port = own_port
        self.label = name if replica == 0 else f"{name}-{replica}"
        command = [
            sys.executable,
            "-m",
            "dossierbus_devstack.serve",
            f"dossierbus_{name}.app:app",
            "--port",
            str(port),
            "--own-port",
            str(own_port),
        ]
        self.process = ChildProcess(
            f"the {self.label} service",
            command,
            logs / f"{self.label}.log",
            env=service_environment({**env, "HTTP_PORT": str(port)}),
        )

    def url(self, path: str = "") -> str:
        """The service, whichever of its replicas answers."""
        return f"http://127.0.0.1:{self.port}{path}"

    def own_url(self, path: str = "") -> str:
        """This replica alone."""
        return f"http://127.0.0.1:{self.own_port}{path}"

    @property
    def running(self) -> bool:
        return self.process.running

    async def start(self, timeout_s: float = 120) -> None:
        claim_port(self.own_port, f"the {self.label} service")
        self.process.start()
        await wait_until_answering(self.process, self.own_url("/readyz"), timeout_s)

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()

"""The bus services and the operator console, each a uvicorn process of its own, as in production."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from dossierbus_devstack.parts import ChildProcess, claim_port, wait_until_answering

SERVICES = ("intake", "registry", "routing", "notifications", "console")


class ServiceProcess:
    def __init__(self, name: str, port: int, env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.port = port
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            f"dossierbus_{name}.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ]
        self.process = ChildProcess(
            f"the {name} service", command, log, env={**os.environ, **env, "HTTP_PORT": str(port)}
        )

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self, timeout_s: float = 120) -> None:
        claim_port(self.port, f"the {self.name} service")
        self.process.start()
        await wait_until_answering(self.process, self.url("/readyz"), timeout_s)

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()

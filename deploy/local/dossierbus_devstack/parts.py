"""What every part of the stack shares: the error it raises, free ports, and a child process whose
output goes to a log file that is quoted when the part fails."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


class StackError(RuntimeError):
    """A part of the development stack could not start; the message says which and why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def claim_port(port: int, what: str) -> int:
    """`port`, or a clear error naming what wanted it when another program already listens there."""
    with socket.socket() as probe:
        # As the servers bind: a closed connection lingering in TIME_WAIT does not make the port taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise StackError(
                f"port {port} for {what} is taken by another program ({error.strerror}); "
                f"stop that program or choose another port (dossierbus up --help)"
            ) from error
    return port


def log_tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return "(no output)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in text) or "(no output)"


class ChildProcess:
    """A program the stack runs, with its output in `log`; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, command: Sequence[str], log: Path, env: Mapping[str, str] | None = None):
        self.name = name
        self.command = list(command)
        self.log = log
        self.env = dict(env) if env is not None else None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as output:
            try:
                self.process = subprocess.Popen(
                    self.command,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    start_new_session=True,  # Ctrl-C in the terminal reaches the stack, which stops us
                )
            except OSError as error:
                raise StackError(f"{self.name} could not be started ({self.command[0]}): {error}") from error

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def failure(self, reason: str) -> StackError:
        return StackError(f"{self.name} {reason}; its last output ({self.log}):\n{log_tail(self.log)}")

    def kill(self) -> None:
        """kill -9: no clean shutdown, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout_s: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

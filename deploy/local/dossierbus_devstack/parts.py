"""What every part of the stack shares: the error it raises, free ports (below the ephemeral range), and a
child process whose output goes to a log file that is quoted when the part fails, and which dies with the
stack."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx


class StackError(RuntimeError):
    """A part of the development stack could not start; the message says which and why."""


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()
"""Ports this process gave out: not given twice, even before their server binds them."""


def free_port() -> int:
    return free_block(1)


def free_block(count: int) -> int:
    """The first of `count` consecutive ports no program listens on, below the ephemeral range: an
    outgoing connection takes its local port from that range, and on a busy machine could take a port
    handed out there before its server binds it ("Address already in use")."""
    ephemeral_start = int(EPHEMERAL_RANGE.read_text().split()[0]) if EPHEMERAL_RANGE.exists() else 32768
    for base in random.sample(range(20_000, ephemeral_start - count, count), 200):
        block = range(base, base + count)
        if _handed_out.intersection(block):
            continue
        try:
            for port in block:
                claim_port(port, "a free port")
        except StackError:
            continue
        _handed_out.update(block)
        return base
    raise StackError("no free block of ports below the ephemeral range")


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


_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up once in the parent: the child between fork and exec must not load
    libraries."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl: Callable[..., int] = libc.prctl
    return prctl


_PRCTL = _prctl()


def dies_with_parent(death_signal: int) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the kernel send `death_signal` to the child when the thread that started
    it ends (Linux's PR_SET_PDEATHSIG): so kill -9 of the stack, where no clean-up code can run, still
    takes every part down with it. None where the platform has no such watchdog."""
    if _PRCTL is None:
        return None
    prctl, parent = _PRCTL, os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, death_signal)
        if os.getppid() != parent:  # the parent died before the watchdog was armed
            os.kill(os.getpid(), death_signal)

    return arm


class ChildProcess:
    """A program the stack runs, with its output in `log`, in a process group of its own.

    Stopped with `stop_signal` (SIGTERM), then SIGKILL, sent to the whole group so nothing it started
    survives it. It also gets `death_signal` (SIGKILL) from the kernel if the stack dies without
    stopping it: start it from a thread that lives as long as the stack (the event loop's)."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        *,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
        death_signal: int = signal.SIGKILL,
    ):
        self.name = name
        self.command = list(command)
        self.log = log
        self.env = dict(env) if env is not None else None
        self.user = user
        self.stop_signal = stop_signal
        self.death_signal = death_signal
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
                    # As another user (PostgreSQL's, when the stack runs as root): its group alone.
                    user=self.user,
                    group=self.user,
                    extra_groups=[] if self.user is not None else None,
                    start_new_session=True,  # Ctrl-C in the terminal reaches the stack, which stops us
                    preexec_fn=dies_with_parent(self.death_signal),
                )
            except OSError as error:
                raise StackError(f"{self.name} could not be started ({self.command[0]}): {error}") from error

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def failure(self, reason: str) -> StackError:
        return StackError(f"{self.name} {reason}; its last output ({self.log}):\n{log_tail(self.log)}")

    def kill(self) -> None:
        """kill -9 of the process and its group: no clean shutdown, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self._signal_group(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout_s: float = 10) -> None:
        self.signal(self.stop_signal)
        self.wait_stopped(timeout_s)

    def signal(self, signum: int) -> None:
        """Send `signum` to the process's group (nothing if it has exited)."""
        if self.process is not None and self.process.poll() is None:
            self._signal_group(signum)

    def wait_stopped(self, timeout_s: float) -> None:
        """Wait for the process to exit; kill -9 after `timeout_s`. The rest of its group is killed
        too: a program that exits may leave children behind."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)  # its own session: the group id is its pid


async def wait_until_answering(process: ChildProcess, url: str, timeout_s: float) -> None:
    """Poll `url` until it answers 200; a `process` that exits first, or is not answering within
    `timeout_s` (then it is stopped), fails with the last lines of its output."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            if process.exit_code is not None:
                raise process.failure(f"exited with code {process.exit_code} while starting")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                process.stop()
                raise process.failure(f"was not ready in {timeout_s:.0f}s")
            await asyncio.sleep(0.1)


class Simulator:
    """A simulator of an outside system (the national portal, the payment platform) as a part of the
    stack: `python -m <module> --port <port>` with its secrets in `env` (the environment, not the command
    line, where `ps` would show them), answering /healthz once up."""

    def __init__(self, what: str, module: str, port: int, log: Path, env: dict[str, str]) -> None:
        self.what = what
        self.port = port
        command = [sys.executable, "-m", module, "--port", str(port)]
        self.process = ChildProcess(what, command, log, env={**os.environ, **env})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout_s: float = 60) -> None:
        claim_port(self.port, self.what)
        self.process.start()
        await wait_until_answering(self.process, f"{self.url}/healthz", timeout_s)

    def stop(self) -> None:
        self.process.stop()

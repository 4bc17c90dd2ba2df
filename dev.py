#!/usr/bin/env python3
"""Set-up and entry point on a machine with nothing but Python 3.11+.

    python3 dev.py demo     # start broker, database and all services; run dossiers end to end
    python3 dev.py test     # the whole test suite (installs Debian's chromium for the browser tests)
    python3 dev.py up       # the development stack, until Ctrl-C
    python3 dev.py bench    # the throughput benchmark

The first run installs uv into .dossierbus/tools and the locked workspace into .venv; later runs reuse
them (re-synced when uv.lock changes). Extra arguments go to the command (e.g. `dev.py test -k crash`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".dossierbus" / "tools"
VENV = ROOT / ".venv"
UV_VERSION = "0.13.9"
CHROMIUM = Path("/usr/bin/chromium")
COMMANDS = {
    "demo": ["dossierbus", "demo"],
    "up": ["dossierbus", "up"],
    "test": ["python", "-m", "pytest"],
    "bench": ["python", "bench/throughput.py"],
}


def bin_path(environment: Path, name: str) -> Path:
    return environment / ("Scripts" if os.name == "nt" else "bin") / name


def ensure_uv() -> Path:
    uv = bin_path(TOOLS, "uv")
    if not uv.exists():
        print(f"dev.py: installing uv {UV_VERSION} into {TOOLS.relative_to(ROOT)}", flush=True)
        venv.create(TOOLS, with_pip=True, clear=True)
        subprocess.run(
            [str(bin_path(TOOLS, "python")), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"],
            check=True,
        )
    return uv


# Compiled at install: where PYTHONDONTWRITEBYTECODE is set, nothing else would keep the bytecode of the
# installed packages, and every test run and every process of the stack would compile them again.
SYNC = ["sync", "--frozen", "--all-packages", "--compile-bytecode"]


def ensure_workspace(uv: Path) -> None:
    lock = (ROOT / "uv.lock").read_bytes()
    stamp = VENV / ".dossierbus-lock"
    digest = hashlib.sha256(lock + " ".join(SYNC).encode()).hexdigest()  # synced again when either changes
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"dev.py: installing the workspace into .venv (uv {' '.join(SYNC)})", flush=True)
    env = dict(os.environ, UV_PROJECT_ENVIRONMENT=str(VENV), UV_PYTHON=sys.executable)
    subprocess.run([str(uv), *SYNC], cwd=ROOT, env=env, check=True)
    stamp.write_text(digest)


def ensure_chromium() -> None:
    """The console's browser tests drive Debian's Chromium (Playwright never downloads a browser)."""
    if CHROMIUM.exists():
        return
    apt = shutil.which("apt-get")
    root = os.name == "posix" and os.geteuid() == 0
    sudo = [] if root else [shutil.which("sudo") or ""]
    if apt is None or not all(sudo):
        print(f"dev.py: {CHROMIUM} is missing and cannot be installed here (apt-get as root or with sudo)")
        print("dev.py: install Debian's chromium package, or the console's browser tests will fail")
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in ([*sudo, apt, "update", "-q"], [*sudo, apt, "install", "-y", "-q", "chromium"]):
        print(f"dev.py: {CHROMIUM} is missing: running {' '.join(command)}", flush=True)
        if subprocess.run(command, env=env).returncode != 0:
            print(f"dev.py: `{' '.join(command)}` failed; the console's browser tests will fail", flush=True)
            return


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        return 2
    ensure_workspace(ensure_uv())
    if argv[0] == "test":
        ensure_chromium()
    program, *args = COMMANDS[argv[0]]
    command = [str(bin_path(VENV, program)), *args, *argv[1:]]
    os.chdir(ROOT)
    if os.name == "nt":
        return subprocess.run(command).returncode
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

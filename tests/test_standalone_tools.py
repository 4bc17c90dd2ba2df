"""The integrator's tools install on their own, outside a checkout's workspace: the contract test kit,
the contract generator/checker, the registry's agency CLI and the reference agency, into a fresh virtual
environment from the repository's paths (as README's "Tools for integrators" says), with working commands."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["shared", "services/registry", "examples/reference-agency"]
COMMANDS = {
    ("dossierbus-contract-kit", "--help"): "--public-key",
    ("dossierbus-contract", "--help"): "generate",
    ("dossierbus-registry", "agency", "add", "--help"): "--handles",
    ("dossierbus-registry", "agency", "rotate", "--help"): "--public-key",
    ("dossierbus-dlq", "--help"): "replay",
    ("reference-agency", "--help"): "--private-key",
}


def uv() -> str:
    found = ROOT / ".dossierbus" / "tools" / "bin" / "uv"
    return str(found) if found.exists() else shutil.which("uv") or pytest.fail("uv is not installed")


def test_the_integrator_tools_install_into_a_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([uv(), "venv", "-q", str(venv)], check=True, cwd=tmp_path)
    # The locked versions (their wheels are in uv's cache after `uv sync`; the index is asked only which
    # files exist); no workspace sources, so nothing is an editable link back into the checkout, as with
    # pip.
    constraints = tmp_path / "constraints.txt"
    exported = subprocess.run(
        [uv(), "export", "--frozen", "--no-hashes", "--all-packages", "--no-emit-workspace", "--no-dev",
         "-q"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    constraints.write_text(exported.stdout)
    command = [
        uv(), "pip", "install", "-q", "--no-sources", "-c", str(constraints),
        "--python", str(venv / "bin" / "python"), *(str(ROOT / package) for package in PACKAGES),
    ]  # fmt: skip
    # From uv's cache alone where it holds every file (after `uv sync` it does); else the index is asked.
    install = subprocess.run(
        [*command, "--offline"], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    if install.returncode != 0:
        install = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import dossierbus_shared; print(dossierbus_shared.__file__)"],
        cwd=tmp_path, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(venv)), "imported from the venv, not from the checkout"
    # All at once: each is a Python start-up and its imports, and the quick tier's 30 s are shared.
    running = {
        command: subprocess.Popen(
            [str(venv / "bin" / command[0]), *command[1:]],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in COMMANDS
    }
    # Every one waited for before any is judged: a failed assertion leaves no command running.
    finished = {
        command: (*process.communicate(timeout=120), process.returncode)
        for command, process in running.items()
    }
    for command, (stdout, stderr, returncode) in finished.items():
        assert returncode == 0, (command, stderr)
        assert COMMANDS[command] in stdout, (command, stdout)

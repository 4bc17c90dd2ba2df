"""The README's examples run as written against the real stack, and do what the README says they do.

Every ```sh block of README.md is run by bash, in order, in one working folder (the examples pass the
receipt on in `receipt.json`), with the variables earlier blocks set, `PORTAL_TOKEN` as `dossierbus up`
prints it, and only the ports changed to those of the test stack. A new ```sh block without a check here
fails the test, so the README cannot grow an example nobody runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import wait_final
from dossierbus_devstack.stack import DevStack

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PORTS = {"8001": "intake", "8002": "registry", "8003": "routing", "8004": "notifications", "8005": "console"}
ASSIGNMENT = re.compile(r"^[A-Z_]+=\$\(.*\)\s*$", re.MULTILINE)


def readme_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", (ROOT / "README.md").read_text(), re.MULTILINE | re.DOTALL)


def for_stack(block: str, stack: DevStack) -> str:
    """The block as written, pointed at the test stack's ports instead of `dossierbus up`'s."""
    return re.sub(
        r"localhost:(800[1-5])",
        lambda port: stack.url(PORTS[port.group(1)]).removeprefix("http://"),
        block,
    )


def run(script: str, stack: DevStack, folder: Path) -> str:
    env = {
        **os.environ,
        "PORTAL_TOKEN": stack.portal_token,
        "OIDC_ISSUER": stack.identity.issuer,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
    }
    # `.venv/bin/...` as written: the folder of the examples' files is the working directory, so the
    # checkout's .venv is reached through a link, as at the root of a checkout.
    if not (folder / ".venv").exists():
        (folder / ".venv").symlink_to(ROOT / ".venv")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{script}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


async def visible_at_routing(http: httpx.AsyncClient, stack: DevStack, code: str) -> None:
    """Routing learns of a dossier from `dossier.submitted`, a moment after intake answered."""

    async def shown() -> None:
        response = await http.get(stack.url("routing", f"/dossiers/{code}"))
        assert response.status_code == 200, f"routing does not show {code} yet: {response.text}"

    await eventually(shown)


async def test_every_readme_example_runs_as_written(
    stack: DevStack, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    blocks = readme_blocks()
    state: dict[str, Any] = {}

    async def submitted_lan(output: str) -> None:
        receipt = json.loads(output)
        assert receipt["dossier_code"].startswith("000.00.01.H26-"), receipt
        assert receipt["procedure_code"] == "1.001193"
        assert receipt["tracking_secret"] and "appointment_date" in receipt
        assert json.loads((tmp_path / "receipt.json").read_text()) == receipt
        state["code"] = receipt["dossier_code"]
        await visible_at_routing(http, stack, state["code"])

    async def followed_with_eid(output: str) -> None:
        view = json.loads(output)
        assert view["dossier_code"] == state["code"], view
        assert view["status"] in {"received", "accepted", "processing", "result_ready", "returned"}, view
        final = await wait_final(http, stack, state["code"])
        assert final["status"] == "returned", final
        assert {step["agency_code"] for step in final["steps"]} == {"justice-hanoi"}

    async def followed_with_the_tracking_secret(output: str) -> None:
        view = json.loads(output)
        assert view["dossier_code"] == state["code"], view

    async def rejected_mismatch(output: str) -> None:
        receipt = json.loads(output)
        final = await wait_final(http, stack, receipt["dossier_code"])
        assert final["status"] == "rejected", final
        assert any(
            "could not be verified against the national databases" in (entry.get("note") or "")
            for entry in final["timeline"]
        ), final["timeline"]

    checks: list[Callable[[str], Any]] = [
        submitted_lan,
        followed_with_eid,
        followed_with_the_tracking_secret,
        rejected_mismatch,
    ]
    assert len(blocks) == len(checks), "each ```sh block of README.md needs its check here"
    assignments: list[str] = []
    for block, check in zip(blocks, checks, strict=True):
        script = for_stack(block, stack)
        output = run("\n".join([*assignments, script]), stack, tmp_path)
        await check(output.splitlines()[-1] if output.strip() else output)
        assignments += ASSIGNMENT.findall(script)


def test_the_readme_examples_use_documented_applicants() -> None:
    from dossierbus_registry.synthetic import DEVELOPMENT_APPLICANTS

    documented = {row[0] for row in DEVELOPMENT_APPLICANTS}
    readme = (ROOT / "README.md").read_text()
    used = set(re.findall(r'"personal_id": "(\d{12})"', readme)) | set(
        re.findall(r"--citizen (\d{12})", readme)
    )
    assert used and used <= documented, used - documented
    for personal_id in documented:
        assert f"`{personal_id}`" in readme, f"{personal_id} is not in the README's table"

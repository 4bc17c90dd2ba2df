"""A citizen's supplement continues the dossier's trace, on real parts: the span of the supplement, the
event it sends the agency and its timeline entry carry the trace id the submission started."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dossierbus_devstack.eventually import eventually
from dossierbus_devstack.scenarios import birth_registration, submit, wait_final
from dossierbus_devstack.stack import DevStack

pytestmark = pytest.mark.slow


async def test_supplement_joins_the_dossiers_trace(stack: DevStack, http: httpx.AsyncClient) -> None:
    body = birth_registration(31)
    body["form"]["place_of_birth"] = "Bệnh viện Phụ sản Hà Nội [justice-hanoi: asks for a supplement]"
    code = (await submit(http, stack, body))["dossier_code"]

    async def supplement_requested() -> Any:
        dossier = (await http.get(stack.url("routing", f"/dossiers/{code}"))).json()
        assert dossier.get("status") == "supplement_requested", dossier
        return dossier

    dossier = await eventually(supplement_requested)
    dossier_trace = dossier["timeline"][0]["trace_id"]
    assert dossier_trace

    sent = await http.post(
        stack.url("routing", f"/dossiers/{code}/supplement"),
        json={"applicant_personal_id": body["applicant"]["personal_id"], "note": "Giấy chứng sinh"},
    )
    assert sent.status_code == 200, sent.text
    [supplemented] = [entry for entry in sent.json()["timeline"] if entry["event"] == "supplemented"]
    assert supplemented["trace_id"] == dossier_trace

    await wait_final(http, stack, code)
    spans = await stack.spans_for(
        code, until=lambda found: any(span["name"] == "supplement dossier" for span in found)
    )
    [supplement] = [span for span in spans if span["name"] == "supplement dossier"]
    assert supplement["trace_id"] == dossier_trace
    assert supplement["service"] == "dossierbus-routing"
    assert supplement["attributes"]["dossier.code"] == code
    # The event sent to the agency is a child of the supplement span, in the same trace.
    sends = [span for span in spans if span["parent_id"] == supplement["span_id"]]
    assert sends, "no span under the supplement"
    assert {span["trace_id"] for span in sends} == {dossier_trace}

"""The committed openapi/openapi.json is what the app serves (regenerate: see README)."""

from __future__ import annotations

import json
from pathlib import Path

from app.main import create_app
from app.settings import Settings

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_running_app() -> None:
    served = create_app(Settings(service="app.services.ward:service")).openapi()
    committed = json.loads(COMMITTED.read_text())
    assert committed == json.loads(json.dumps(served)), (
        "openapi/openapi.json is stale: run `sluice openapi --output openapi/openapi.json`"
    )


def test_every_command_documents_its_body_and_problems() -> None:
    document = json.loads(COMMITTED.read_text())
    admit = document["paths"]["/entities/patient/{entity_id}/admit"]["post"]
    body_schema = admit["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/Admit"}
    assert {"200", "404", "409", "413", "422"} <= set(admit["responses"])
    assert admit["responses"]["409"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    assert admit["operationId"] == "patient.admit"
    vitals = document["components"]["schemas"]["RecordVitals"]["properties"]["spo2"]
    assert vitals["maximum"] == 100

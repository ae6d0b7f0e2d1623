"""``GET /api/openapi.json``: the API described from the routes the application has, valid OpenAPI 3.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from batchverify.web.openapi import described
from tests.support.web import AUTH, make_client, numbers_csv, upload, web_sim

__all__ = ["make_client", "web_sim"]  # fixtures used below

pytestmark = pytest.mark.timeout(60)


async def test_the_document_is_valid_and_describes_every_route(make_client: Any) -> None:
    client = await make_client()
    assert (await client.get("/api/openapi.json")).status == 401
    doc = await (await client.get("/api/openapi.json", headers=AUTH)).json()
    validate(doc)  # OpenAPI 3.1, by openapi-spec-validator
    assert doc["openapi"] == "3.1.0"
    app = client.server.app
    probes = ("/healthz", "/readyz", "/metrics")
    routes = [
        (route.resource.canonical, route.method.lower(), route.handler)
        for route in app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and (route.resource.canonical.startswith("/api/") or route.resource.canonical in probes)
    ]
    assert len(routes) >= 14
    for path, method, handler in routes:
        assert described(handler), (method, path)  # a new route without a description fails here
        operation = doc["paths"][path][method]
        assert operation["summary"] and operation["responses"], (method, path)
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    job = doc["paths"]["/api/jobs/{id}"]["get"]
    assert job["parameters"][0] == {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    assert {"201", "400", "413", "429", "401"} <= set(doc["paths"]["/api/jobs"]["post"]["responses"])


async def test_start_answers_202_with_the_jobs_location(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    job = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 3))).json())["id"]
    started = await client.post(f"/api/jobs/{job}/start", headers=AUTH)
    assert started.status == 202 and started.headers["Location"] == f"/api/jobs/{job}"

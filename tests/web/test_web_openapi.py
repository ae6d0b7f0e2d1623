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
    upload = doc["paths"]["/api/jobs"]["post"]
    assert {"201", "400", "409", "413", "429", "401"} <= set(upload["responses"])
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= upload["parameters"][-1].items()
    assert "application/problem+json" in upload["responses"]["400"]["content"]


async def test_start_answers_202_with_the_jobs_location(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    job = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 3))).json())["id"]
    started = await client.post(f"/api/jobs/{job}/start", headers=AUTH)
    assert started.status == 202 and started.headers["Location"] == f"/api/jobs/{job}"


async def test_a_retried_upload_or_start_with_its_idempotency_key_pays_nothing_twice(
    make_client: Any, tmp_path: Path
) -> None:
    client = await make_client()
    listed = numbers_csv(tmp_path / "l.csv", 4)
    key = {**AUTH, "Idempotency-Key": "3f0c1e9a-upload-1"}
    first = await upload(client, listed, headers=key)
    again = await upload(client, listed, headers=key)  # the client never saw the first answer
    assert first.status == again.status == 201 and again.headers.get("Idempotent-Replayed") == "true"
    job = (await first.json())["id"]
    assert (await again.json())["id"] == job
    assert len((await (await client.get("/api/jobs", headers=AUTH)).json())["jobs"]) == 1
    another_file = await upload(client, numbers_csv(tmp_path / "m.csv", 5), headers=key)
    assert another_file.status == 422 and (await another_file.json())["code"] == "key_reused"
    assert not list((tmp_path / "data" / "jobs").glob(".replay-*"))  # the compared copy is gone
    other = await upload(client, listed, headers={**AUTH, "Idempotency-Key": "3f0c1e9a-upload-2"})
    assert other.status == 201 and (await other.json())["id"] != job  # another key: another job
    start = {**AUTH, "Idempotency-Key": "start-1"}
    assert (await client.post(f"/api/jobs/{job}/start", headers=start)).status == 202
    retried = await client.post(f"/api/jobs/{job}/start", headers=start)
    assert retried.status == 202  # the same start again: no 409, and nothing started twice
    assert (await client.post(f"/api/jobs/{job}/start", headers=AUTH)).status == 409  # a new start
    bad = await client.post(f"/api/jobs/{job}/start", headers={**AUTH, "Idempotency-Key": "a b"})
    assert bad.status == 400 and (await bad.json())["code"] == "bad_idempotency_key"

"""Fixtures for the upload server's tests: the app on aiohttp's test server, a real simulator on
127.0.0.1 behind it, and helpers to upload lists and wait for jobs."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from batchverify.core.classify import RetryPolicy
from batchverify.engine.job import Target
from batchverify.engine.sender import SendConfig
from batchverify.simulator import SimConfig, SimulatorServer
from batchverify.tencent.client import Endpoint
from batchverify.tencent.credentials import Credentials
from batchverify.web.app import create_app
from batchverify.web.manager import ServeSettings

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def numbers_csv(path: Path, count: int, *, start: int = 13512340000, extra: str = "") -> Path:
    """A customer list of ``count`` distinct numbers (stable simulator answers, all final)."""
    lines = ["id,name,mobile"] + [f"{i},name {i},{start + i}" for i in range(count)]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def settings_for(sim: SimulatorServer, data_dir: Path, **overrides: Any) -> ServeSettings:
    rate = overrides.pop("rate", 20.0)
    target = Target(
        endpoint=Endpoint.parse(sim.url),
        credentials=Credentials(sim.cfg.secret_id, sim.cfg.secret_key),
        identity=f"simulator at {sim.url}",  # a gate of its own: another test's rate never applies
        send=SendConfig(rate=rate, policy=RetryPolicy()),
        rate_store=overrides.pop("rate_store", "memory"),
    )
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "target": target,
        "token": TOKEN,
        "max_upload": 1024 * 1024,
        "keep": datetime.timedelta(days=30),
    }
    values.update(overrides)
    return ServeSettings(**values)


@pytest.fixture
def web_sim() -> Iterator[SimulatorServer]:
    """A simulator that enforces the API's 20/s and answers in 5-20 ms."""
    with SimulatorServer(SimConfig(seed=3, latency_ms=(5, 20))) as server:
        yield server


MakeClient = Callable[..., "asyncio.Future[TestClient[Any, Any]]"]


@pytest.fixture
async def make_client(
    aiohttp_client: Any, web_sim: SimulatorServer, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """``await make_client(**settings)``: a test client for an app on ``tmp_path/data``."""

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        data_dir = overrides.pop("data_dir", tmp_path / "data")
        app = create_app(settings_for(web_sim, data_dir, **overrides))
        return await aiohttp_client(app)  # type: ignore[no-any-return]

    yield make


async def upload(
    client: TestClient[Any, Any],
    path: Path,
    *,
    filename: str | None = None,
    headers: dict[str, str] | None = None,
    **fields: str,
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", path.read_bytes(), filename=filename or path.name)
    return await client.post("/api/jobs", data=form, headers=AUTH if headers is None else headers)


async def wait_state(
    client: TestClient[Any, Any], job_id: str, states: tuple[str, ...], timeout: float = 60.0
) -> dict[str, Any]:
    """Poll the job until its state is one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/api/jobs/{job_id}", headers=AUTH)
        doc: dict[str, Any] = await response.json()
        if doc["state"] in states:
            return doc
        assert time.monotonic() < deadline, f"job stayed {doc['state']}"
        await asyncio.sleep(0.1)


async def wait_done(client: TestClient[Any, Any], job_id: str, at_least: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        doc = await (await client.get(f"/api/jobs/{job_id}", headers=AUTH)).json()
        if doc["done"] >= at_least:
            return
        assert time.monotonic() < deadline, f"only {doc['done']} done"
        await asyncio.sleep(0.05)

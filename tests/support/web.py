"""Fixtures for the upload server's tests: the app on aiohttp's test server, a real simulator on
127.0.0.1 behind it, and helpers to upload lists and wait for jobs."""

from __future__ import annotations

import asyncio
import datetime
import io
import re
import signal
import subprocess
import sys
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

TOKEN = "test-token-0123456789abcdef0123456789abcdef"
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


@pytest.fixture
async def make_client(
    web_sim: SimulatorServer, aiohttp_client: Any, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """``await make_client(**settings)``: a test client for an app on ``tmp_path/data``.

    The simulator is set up first, so it is torn down last: a job still running at the end of a
    test stops against a live server instead of waiting for connect timeouts."""

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
    # A text list comes back as a workbook unless asked otherwise: the tests of text lists read
    # their result as text (output="" sends no field: the server's default).
    fields.setdefault("output", "same")
    for key, value in fields.items():
        if value:
            form.add_field(key, value)
    form.add_field("file", io.BytesIO(path.read_bytes()), filename=filename or path.name)
    return await client.post("/api/jobs", data=form, headers=AUTH if headers is None else headers)


async def wait_state(
    client: TestClient[Any, Any],
    job_id: str,
    states: tuple[str, ...],
    timeout: float = 60.0,
    *,
    written: bool = True,
) -> dict[str, Any]:
    """Poll the job until its state is one of ``states`` (and, with ``written``, a stopped job's
    file is written)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/api/jobs/{job_id}", headers=AUTH)
        doc: dict[str, Any] = await response.json()
        if doc["state"] in states and not (written and doc.get("writing")):
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


class Served:
    """``batchverify serve`` in a subprocess; its stderr goes to a file (a pipe left unread could
    fill up and stall the server)."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log
        self.base = ""
        self.login = ""  # the one-time link the server printed
        self.token = ""  # the token it printed (a generated one), or ""

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> Served:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            match = re.search(r"open (http://[^/\s]+)(/login\?code=\S+)", text)
            told = re.search(r"use the token: (\S+)", text)
            if match and told:
                self.base = match.group(1)
                self.login = match.group(1) + match.group(2)
                self.token = "" if told.group(1) == "BATCHVERIFY_TOKEN" else told.group(1)
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.text()}")
            time.sleep(0.05)
        raise AssertionError(f"serve did not start: {self.text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def start_server(env: dict[str, str], data_dir: Path, *args: str, log: Path | None = None) -> Served:
    """Start ``batchverify serve --port 0 --data-dir DATA ARGS`` (not yet waited for)."""
    log = log or data_dir.parent / f"serve-{time.monotonic_ns()}.log"
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchverify", "serve", "--port", "0", "--data-dir", str(data_dir), *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out.close()
    return Served(proc, log)


def http(method: str, url: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
    """One request from a plain synchronous client (``requests`` ships with the official SDK)."""
    import requests

    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = requests.request(method, url, headers=headers, timeout=30, **kwargs)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.content

"""``--log-format json`` (or BATCHVERIFY_LOG_FORMAT=json): every line a run or the server writes is one
JSON object (time, level, message), printed and logged lines alike, errors included."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from batchverify.simulator import SimConfig, SimulatorServer
from tests.support.cli import cli_env, run_cli
from tests.support.tables import spread_numbers, write_list
from tests.support.web import start_server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def sim() -> Any:
    with SimulatorServer(SimConfig(seed=4, latency_ms=(1, 5))) as server:
        yield server


def _objects(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    docs = [json.loads(line) for line in lines]  # every line parses, or this raises
    for doc in docs:
        assert set(doc) == {"time", "level", "message"}, doc
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["time"]) and doc["level"] in (
            "INFO",
            "WARNING",
            "ERROR",
        )
    return docs


def test_a_run_in_json_writes_only_json_lines(sim: SimulatorServer, tmp_path: Path) -> None:
    env = cli_env(sim, tmp_path / "home")
    src = write_list(tmp_path / "in.csv", spread_numbers(5))
    done = run_cli("run", src, "--yes", "--log-format", "json", env=env)
    assert done.returncode == 0, done.stderr
    out, err = _objects(done.stdout), _objects(done.stderr)
    assert out[0]["message"].startswith("plan: 5 rows") and "ended: complete, exit 0" in out[-1]["message"]
    assert any(d["message"].startswith("rate window:") for d in err)
    refused = run_cli("run", src, "--yes", "--column", "nope", env={**env, "BATCHVERIFY_LOG_FORMAT": "json"})
    assert refused.returncode == 2
    (line,) = _objects(refused.stderr)
    assert line["level"] == "ERROR" and "nope" in line["message"]
    wrong = run_cli("run", src, "--log-format", "xml", env=env)
    assert wrong.returncode == 2 and "xml" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1


def test_the_server_in_json_writes_only_json_lines(sim: SimulatorServer, tmp_path: Path) -> None:
    env = cli_env(sim, tmp_path / "home")
    served = start_server({**env, "BATCHVERIFY_LOG_FORMAT": "json"}, tmp_path / "data").wait_ready()
    served.stop()
    docs = _objects(served.text())
    assert any("login?code=" in d["message"] for d in docs) and any("stopping" in d["message"] for d in docs)

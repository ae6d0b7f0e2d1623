"""Shared fixtures: a fast simulator and the real command line run as a subprocess against it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from batchverify.simulator import SimConfig, SimulatorServer

# Property tests check behaviour, not speed: no per-example deadline, so a busy machine cannot fail them.
settings.register_profile("batchverify", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("batchverify")

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def private_runtime_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test (and every batchverify it starts) keeps its host-wide rate log and its answer store
    in folders of its own, never in the real runtime or data directory."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("runtime")))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))


@pytest.fixture
def fast_sim() -> Iterator[SimulatorServer]:
    """A simulator with the rate limit off: for tests where the rate itself is not under test."""
    with SimulatorServer(SimConfig(rate_limit=0, seed=7)) as server:
        yield server


def cli_env(server: SimulatorServer, home: Path) -> dict[str, str]:
    """The environment of a ``batchverify`` subprocess pointed at ``server`` with its keys."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS and not k.startswith("TENCENTCLOUD_")}
    home.mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        TENCENTCLOUD_SECRET_ID=server.cfg.secret_id,
        TENCENTCLOUD_SECRET_KEY=server.cfg.secret_key,
        BATCHVERIFY_ENDPOINT=server.url,
        PYTHONUNBUFFERED="1",
        BATCHVERIFY_LANGUAGE="en",  # the locale's language otherwise; tests that need zh-CN say so
    )
    return env


@pytest.fixture
def env(fast_sim: SimulatorServer, tmp_path: Path) -> dict[str, str]:
    return cli_env(fast_sim, tmp_path / "home")


def run_cli(*args: str | Path, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run ``python -m batchverify ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "batchverify", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def start_cli(*args: str | Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``python -m batchverify ARGS`` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "batchverify", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def answers_in(store: Path) -> int:
    """How many answers a checkpoint store holds (read while a run is writing it)."""
    if not store.exists():
        return 0
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
    try:
        return int(con.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()

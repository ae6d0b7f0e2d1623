"""The fixtures every test shares: private runtime and data folders, a fast simulator and the
environment of a command line pointed at it. Helpers live in ``tests.support``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from batchverify.simulator import SimConfig, SimulatorServer
from tests.support.cli import cli_env

# Property tests check behaviour, not speed: no per-example deadline, so a busy machine cannot fail them.
settings.register_profile("batchverify", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("batchverify")


@pytest.fixture(autouse=True)
def private_runtime_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every batchverify it starts) keeps its host-wide rate log (``BATCHVERIFY_STATE_DIR``)
    and its answer store in folders of its own, never in the user's real ones, and names no rate
    store. Returns the state folder (the host window lives in its ``rate``)."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("BATCHVERIFY_STATE_DIR", str(state))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("runtime")))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("BATCHVERIFY_RATE_STORE", raising=False)
    return state


@pytest.fixture
def fast_sim() -> Iterator[SimulatorServer]:
    """A simulator with the rate limit off: for tests where the rate itself is not under test."""
    with SimulatorServer(SimConfig(rate_limit=0, seed=7)) as server:
        yield server


@pytest.fixture
def env(fast_sim: SimulatorServer, tmp_path: Path) -> dict[str, str]:
    return cli_env(fast_sim, tmp_path / "home")

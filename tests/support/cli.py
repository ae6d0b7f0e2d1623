"""The real command line as a subprocess, pointed at a simulator with its keys."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from batchverify.simulator import SimulatorServer

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


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

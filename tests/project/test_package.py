"""The release as a new user gets it: the wheel and the sdist built from this tree, the wheel
installed into a fresh environment (its dependencies from the package index), ``batchverify
--help`` and ``batchverify demo`` from an empty folder; the sdist carries its license and collects
its own tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).parents[2]


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode in (0,), (args, done.stdout[-2000:], done.stderr[-2000:])
    return done


def test_the_wheel_installs_anywhere_and_its_demo_runs_and_the_sdist_tests_itself(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--outdir", dist, ROOT, cwd=tmp_path)
    wheel = next(dist.glob("batchverify-*.whl"))
    sdist = next(dist.glob("batchverify-*.tar.gz"))
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "sample_data/", "bench/")) for n in names)
    metadata = next(n for n in names if n.endswith("METADATA"))
    with zipfile.ZipFile(wheel) as whl:
        meta = whl.read(metadata).decode().split("\n\n", 1)[0]  # the headers, not the long description
    assert (
        "Provides-Extra: redis" in meta and "Requires-Dist: redis" in meta.split("Provides-Extra: redis")[1]
    )
    assert "mypy" not in meta and "ruff" not in meta and "playwright" not in meta  # no developer tools
    assert "Classifier: " in meta and "License-Expression: MIT" in meta

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    pip_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path, env=pip_env)
    empty = tmp_path / "empty"
    empty.mkdir()
    user = {**pip_env, "HOME": str(tmp_path / "home"), "BATCHVERIFY_LANGUAGE": "en"}
    user = {k: v for k, v in user.items() if not k.startswith(("TENCENTCLOUD_", "BATCHVERIFY_ENDPOINT"))}
    assert "demo" in _run(venv / "bin" / "batchverify", "--help", cwd=empty, env=user).stdout
    demo = _run(venv / "bin" / "batchverify", "demo", cwd=empty, env=user)
    assert "what to do next" in demo.stdout
    assert (empty / "batchverify-demo" / "customers.verified.xlsx").is_file()

    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path / "sdist", filter="data")
    unpacked = next((tmp_path / "sdist").iterdir())
    assert (unpacked / "LICENSE").is_file() and (unpacked / "tests" / "conftest.py").is_file()
    assert (unpacked / "sample_data" / "customers.xlsx").is_file()
    collected = _run(
        sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", cwd=unpacked,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )  # fmt: skip
    assert " tests collected" in collected.stdout and "error" not in collected.stdout.splitlines()[-1]

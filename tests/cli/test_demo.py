"""``batchverify demo``: an installed package's first run, from an empty folder, against the built-in
simulator; it never writes over a file that is not its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchverify.files.samples import SAMPLES, sample_bytes
from batchverify.simulator import SimulatorServer
from tests.support.cli import cli_env, run_cli
from tests.support.tables import read_dicts

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).parents[2]


def test_the_demo_runs_from_an_empty_folder_and_says_what_to_do_next(tmp_path: Path) -> None:
    with SimulatorServer() as server:
        env = cli_env(server, tmp_path / "home")
    for name in ("BATCHVERIFY_ENDPOINT", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"):
        env.pop(name)  # a new user: no account, no endpoint
    folder = tmp_path / "first"
    first = run_cli("demo", folder, env=env)
    assert first.returncode == 0, first.stderr
    assert {p.name for p in folder.iterdir()} >= {
        *SAMPLES,
        "customers.verified.xlsx",
        "customers.problems.xlsx",
    }
    assert "what to do next" in first.stdout and "batchverify run YOUR-LIST.xlsx --dry-run" in first.stdout
    assert "nothing is billed" in first.stderr
    again = run_cli("demo", folder, env=env)  # the demo's own files: it runs again, afresh
    assert again.returncode == 0 and "job 2 (new)" in again.stdout, again.stdout


def test_the_demo_never_writes_over_a_file_of_the_users(tmp_path: Path) -> None:
    with SimulatorServer() as server:
        env = cli_env(server, tmp_path / "home")
    mine = tmp_path / "customers.csv"
    mine.write_text("name,phone\nmy customer,13800138000\n", encoding="utf-8")
    result = run_cli("demo", tmp_path, env=env)
    assert result.returncode == 2 and "is not the demo's sample" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert read_dicts(mine) == [{"name": "my customer", "phone": "13800138000"}]
    assert not (tmp_path / "customers.xlsx").exists()


def test_sample_data_is_what_the_package_makes() -> None:
    made = sample_bytes()
    for name in SAMPLES:
        assert (ROOT / "sample_data" / name).read_bytes() == made[name], name

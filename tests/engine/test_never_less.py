"""What was paid for stays paid for: a final answer is never replaced by a recheck that failed (a
key of another pair, a spent daily quota); the output keeps showing it, says why, and the answer is
still reused later."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from batchverify.engine.store import Checkpoint
from batchverify.simulator import SimConfig, SimulatorServer
from tests.support.cli import cli_env, run_cli
from tests.support.tables import read_dicts, spread_numbers, write_list


def _finals(store: Path) -> dict[int, str]:
    with Checkpoint.open(store, lock=False, create=False) as opened:
        return {
            n: a.result.status.value for n, a in opened.lookup(opened.finals(None, "0")).items() if a.final
        }


def test_a_spent_daily_quota_never_turns_answers_into_daily_limit(tmp_path: Path) -> None:
    with SimulatorServer(SimConfig(rate_limit=0, seed=7, daily_quota=10)) as sim:
        env = cli_env(sim, tmp_path / "home")
        source = write_list(tmp_path / "l.csv", spread_numbers(10))
        first = run_cli("run", source, "--yes", env=env)
        assert first.returncode == 0, first.stdout
        out = tmp_path / "l.verified.csv"
        before = {r["phone"]: r["mobile_status"] for r in read_dicts(out)}
        assert "daily_limit" not in before.values()
        store = tmp_path / "l.verified.csv.checkpoint.sqlite"
        paid = _finals(store)

        again = run_cli("run", source, "--yes", env=env)  # a new job; the quota is spent
        assert again.returncode == 1, again.stdout  # rows to retry later, not "complete"
        assert "10 numbers kept the final answer paid for before" in again.stdout
        rows = read_dicts(out)
        assert {r["phone"]: r["mobile_status"] for r in rows} == before, "the output shows what was paid for"
        assert {r["mobile_source"] for r in rows} == {"kept"}
        assert all("recheck" in r["mobile_error"] and "daily_limit" in r["mobile_error"] for r in rows)
        assert _finals(store) == paid, "the checkpoint still holds every final answer"

        reused = run_cli("run", source, "-o", tmp_path / "week.csv", "--yes", "--max-age", "7d", env=env)
        assert "10 reused, 0 to send" in reused.stdout, reused.stdout
        assert sim.ledger()["billed"] == 10


def test_a_key_of_another_pair_never_turns_answers_into_errors(tmp_path: Path) -> None:
    with SimulatorServer(SimConfig(rate_limit=0, seed=7)) as sim:
        env = cli_env(sim, tmp_path / "home")
        source = write_list(tmp_path / "l.csv", spread_numbers(20))
        assert run_cli("run", source, "--yes", env=env).returncode == 0
        out = tmp_path / "l.verified.csv"
        before = out.read_bytes()
        store = tmp_path / "l.verified.csv.checkpoint.sqlite"
        paid = _finals(store)
        key = tmp_path / "other.pem"
        other = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
        key.write_bytes(
            other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        args = ("--yes", "--encrypt", "aes-256-cbc", "--encryption-public-key", key, "--concurrency", "1")
        wrong = run_cli("run", source, *args, env=env)
        assert wrong.returncode == 3, wrong.stdout
        assert out.read_bytes() == before, "the output in place shows every answer paid for"
        assert _finals(store) == paid
        week = run_cli("run", source, "-o", tmp_path / "week.csv", "--yes", "--max-age", "7d", env=env)
        assert "20 reused, 0 to send" in week.stdout, week.stdout
        assert sim.ledger()["billed"] == 20

"""The benchmark seeds checkpoint stores directly (a 1,000,000-row job without sending it): what it
seeds must be a store the current schema opens and a run resumes, so a schema change cannot break
the bench silently again."""

from __future__ import annotations

from pathlib import Path

from batchverify.engine.store import Checkpoint
from batchverify.simulator import SimulatorServer
from bench import store
from tests.support.cli import run_cli
from tests.support.tables import read_rows


def test_a_seeded_store_opens_and_a_run_resumes_it_sending_nothing(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    numbers = [13800138000, 13800138001, 13800138002]
    template = tmp_path / "template.sqlite"
    assert store.seed_store(template, numbers) == 3
    with Checkpoint.open(template, lock=False, create=False) as opened:
        job = opened.peek_job()
        answers = opened.lookup(numbers)
    assert job is not None  # the job is still open: a run resumes it
    assert {n: (a.final, a.job_id, a.result.status.value) for n, a in answers.items()} == {
        n: (True, job[0], "normal") for n in numbers
    }
    listed = tmp_path / "list.csv"
    listed.write_text("mobile\n" + "\n".join(map(str, numbers)) + "\n", encoding="utf-8")
    out = tmp_path / "list.verified.csv"
    store.install_store(template, out)
    result = run_cli("run", listed, "--yes", "--headers", "names", "--answers", "none", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert fast_sim.ledger()["requests"] == 0
    rows = read_rows(out)
    status = rows[0].index("mobile_status")
    assert [r[status] for r in rows[1:]] == ["normal"] * 3

"""§2 of bench/run.py: against what users would write instead (official SDK scripts)."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

from bench.proc import LOGS, PYTHON, WORK, Measured, Simulator, child_env, machine_state, run_measured
from bench.report import Context, _f, _median_run, bv_ceiling_run, ledger_numbers, progress

PEERS = (
    ("official sync SDK, plain loop", "bench.peers.sdk_sync_loop"),
    ("official async SDK, gather + Semaphore(20), no limiter", "bench.peers.sdk_async_gather"),
    ("official SDK StandardRetryer(3), 20 threads", "bench.peers.sdk_retryer_pool"),
)


def section_peers(ctx: Context) -> None:
    sizes, rep = ctx.sizes, ctx.report
    n = sizes.ceiling_numbers
    rep.add("## 2. Against what users would write instead", "")
    rep.add(f"Before: {machine_state()}.", "")
    sim = ctx.sim("strict")
    inp = ctx.ceiling_input()
    if ctx.ceiling_runs:
        bv = _median_run(ctx.ceiling_runs, "finished_per_s")
        bv_note = f"batchverify: the median (by finished rows/s) of the {len(ctx.ceiling_runs)} runs of §1"
    else:
        progress("§2 batchverify run")
        bv = bv_ceiling_run(ctx, sim, "peers-batchverify")
        bv_note = "batchverify: one run"
    rows = [
        {
            "who": "**batchverify**",
            "wall": bv["wall"],
            "final": bv["final"],
            "rows": bv["rows"],
            "finished_per_s": bv["finished_per_s"],
            "rle": bv["rle"],
            "billed": bv["billed"],
            "billed_twice": bv["billed_twice"],
            "maxrss_mb": bv["maxrss_mb"],
            "cpu": bv["cpu"],
            "steal": bv["steal"],
            "outcomes": bv["statuses"],
        }
    ]
    # batchverify finishes in one run: its row here is its row above.
    completions = [{"passes": 1, **rows[0]}]
    for who, module in PEERS:
        progress(f"§2 {who}")
        sim.reset()
        m, peer = _peer_pass(sim, module, inp, module.rsplit(".", 1)[1])
        led = ledger_numbers(sim.ledger())
        rows.append(
            {
                "who": who,
                "exit": m.returncode,
                "wall": m.wall,
                "final": peer["finished"],
                "rows": n,
                "finished_per_s": peer["finished"] / m.wall,
                "rle": led["rle"],
                "billed": led["billed"],
                "billed_twice": led["billed_twice"],
                "maxrss_mb": m.maxrss_mb,
                "cpu": m.cpu,
                "steal": m.steal,
                "outcomes": peer["outcomes"],
            }
        )
        completions.append(_peer_until_done(ctx, sim, who, module, n, m, peer))
    rep.raw["peers"] = rows
    rep.raw["peers_until_done"] = completions
    rep.add(
        f"The same {n:,} numbers, the same strict simulator ({sim.describe()}), one run of each peer "
        f"(the sync loop alone takes minutes); {bv_note}. Finished = rows that ended with a final "
        "answer (a business Result other than -3/-4, not an exception); finished/s = finished rows "
        "divided by the process's wall time, start-up included. RequestLimitExceeded and billed "
        "calls are the simulator's ledger; peak RSS is the process's own (`wait4`).",
        "",
    )
    rep.table(
        (
            "client",
            "wall s",
            "finished rows",
            "share final",
            "finished /s",
            "RequestLimitExceeded",
            "billed calls (numbers billed twice)",
            "peak RSS MiB",
            "CPU s",
            "steal %",
        ),
        [
            (
                r["who"],
                _f(r["wall"], 1),
                f"{r['final']}/{r['rows']}",
                _f(r["final"] / r["rows"] if r["rows"] else 0, 3),
                _f(r["finished_per_s"], 2),
                r["rle"],
                f"{r['billed']} ({r['billed_twice']})",
                _f(r["maxrss_mb"], 0),
                _f(r["cpu"], 2),
                f"{r['steal'] * 100:.0f}",
            )
            for r in rows
        ],
    )
    rep.add("How each peer's rows ended:", "")
    for r in rows[1:]:
        outcomes = ", ".join(f"{k} {v}" for k, v in r["outcomes"].items())
        rep.add(f"- {r['who']}: {outcomes}")
    rep.add("")
    me = rows[0]
    rep.target("peers", "batchverify finishes every row", f"{me['final']}/{me['rows']}", me["final"] == n)
    rep.target("peers", "batchverify never rate-limited", f"{me['rle']} RequestLimitExceeded", me["rle"] == 0)
    for r in rows[1:]:
        rep.target(
            "peers",
            f"finished/s above: {r['who']}",
            f"{_f(me['finished_per_s'], 2)} vs {_f(r['finished_per_s'], 2)} "
            f"(×{_f(me['finished_per_s'] / r['finished_per_s'], 2) if r['finished_per_s'] else '∞'})",
            me["finished_per_s"] > r["finished_per_s"],
        )
    rep.add(
        "**Until every row is final.** A peer that leaves rows without an answer has to be run "
        "again on those rows, as its user would (the same script, a new process, on the numbers "
        "it left, without resetting the simulator, so billing and rejections add up across the "
        f"passes), for at most {sizes.rerun_budget_s} s of reruns per peer. Total wall = the sum of "
        "the passes' process wall times; finished/s = final rows / total wall.",
        "",
    )
    rep.table(
        (
            "client",
            "passes",
            "final rows",
            "total wall s",
            "finished /s",
            "RequestLimitExceeded",
            "billed calls (numbers billed twice)",
        ),
        [
            (
                c["who"],
                c["passes"],
                f"{c['final']}/{c['rows']}",
                _f(c["wall"], 1),
                _f(c["final"] / c["wall"] if c["wall"] else 0, 2),
                c["rle"],
                f"{c['billed']} ({c['billed_twice']})",
            )
            for c in completions
        ],
    )
    mine = completions[0]
    for c in completions[1:]:
        done = c["final"] == c["rows"]
        mine_time, their_time = mine["wall"], c["wall"]
        rep.target(
            "peers",
            f"every row final sooner than: {c['who']} (run again on the rows it left)",
            f"{_f(mine_time, 1)} s vs "
            + (
                f"{_f(their_time, 1)} s in {_runs(c['passes'])}"
                if done
                else f"{c['final']}/{c['rows']} after {_runs(c['passes'])}, {_f(their_time, 1)} s"
            ),
            mine["final"] == mine["rows"] and (not done or mine_time < their_time),
        )
    rep.add("Targets:", "")
    rep.targets_table("peers")
    rep.add(f"After: {machine_state()}.", "")


def _runs(count: int) -> str:
    return "1 run" if count == 1 else f"{count} runs"


def _peer_pass(
    sim: Simulator, module: str, numbers_csv: Path, log_name: str, timeout: float = 3600.0
) -> tuple[Measured, dict[str, Any]]:
    """One run of a peer script on ``numbers_csv``: its measurements and its JSON report.

    A run killed at ``timeout`` leaves no report: what it answered is lost, as for its user.
    """
    out = LOGS / f"{log_name}.json"
    out.unlink(missing_ok=True)
    m = run_measured(
        [PYTHON, "-m", module, "--endpoint", sim.host, "--numbers", str(numbers_csv), "--out", str(out)],
        env=child_env(),
        log_name=log_name,
        timeout=timeout,
    )
    if out.exists():
        return m, json.loads(out.read_text())
    return m, {"finished": 0, "rows": 0, "unfinished": [], "outcomes": {}}


def _peer_until_done(
    ctx: Context, sim: Simulator, who: str, module: str, n: int, first: Measured, peer: dict[str, Any]
) -> dict[str, Any]:
    """Run the peer again on the rows it left until each has a final answer or the budget is spent."""
    final, wall, passes = peer["finished"], first.wall, 1
    left: list[str] = peer.get("unfinished", [])
    name = module.rsplit(".", 1)[1]
    budget_end = time.perf_counter() + ctx.sizes.rerun_budget_s
    while left and time.perf_counter() < budget_end and passes < 200:
        passes += 1
        if passes % 5 == 2:
            progress(f"§2 {who}: pass {passes}, {len(left)} rows left")
        rest = WORK / "peers" / f"{name}-left.csv"
        rest.parent.mkdir(parents=True, exist_ok=True)
        with rest.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["mobile"])
            writer.writerows([number] for number in left)
        # The budget bounds each rerun too, so one slow pass cannot run far past it.
        remaining = max(1.0, budget_end - time.perf_counter())
        m, again = _peer_pass(sim, module, rest, f"{name}-pass", timeout=remaining)
        wall += m.wall
        final += again["finished"]
        if again["rows"] != len(left):  # the script died: stop rather than loop on it
            break
        left = again["unfinished"]
    led = ledger_numbers(sim.ledger())
    return {
        "who": who,
        "passes": passes,
        "final": final,
        "rows": n,
        "wall": wall,
        "rle": led["rle"],
        "billed": led["billed"],
        "billed_twice": led["billed_twice"],
    }

"""Measurements inside one child process, printed as JSON on stdout.

``python -m bench.probes checkpoint STORE --answers N --paced M``
    What the sender does to the checkpoint for every answer (``mark_inflight`` before the call,
    ``record`` after it, with their timestamps), on an existing store: N answers back to back, then
    M answers paced at 20/s as in a real run.
``python -m bench.probes components --count N``
    CPU per call of the per-number pieces of batchverify, each in a tight loop.
``python -m bench.probes profile PSTATS --rows N``
    Summarize a cProfile dump of a ``batchverify run``: own time by area, per row.
``python -m bench.probes instrumented --stats PATH --stop-after N -- run INPUT ...``
    ``batchverify`` itself, with the checkpoint calls of the sender timed in place; after N
    answers the timings go to PATH and the process exits at once (the job is a throw-away copy).
"""

from __future__ import annotations

import argparse
import json
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from batchverify.core.classify import classify, result_from_reply
from batchverify.core.normalize import normalize_mobile
from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.store import Checkpoint
from batchverify.models import BusinessReply, RowResult, Status
from batchverify.tencent.client import Endpoint, MobileStatusClient, parse_reply
from batchverify.tencent.credentials import Credentials
from bench.datagen import distinct_numbers

_REPLY = (
    b'{"Response":{"Result":"0","Description":"Success","StatusCode":0,'
    b'"RequestId":"6f1c2a54-1b7e-4d8f-9d0e-3f1a2b3c4d5e"}}'
)


def _answer() -> RowResult:
    return RowResult(
        status=Status.NORMAL,
        status_code=0,
        result_code="0",
        billable=True,
        description="Success",
        request_id=str(uuid.uuid4()),
        checked_at=utc_now_iso(),
    )


def _stats_us(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "mean_us": statistics.fmean(ordered) * 1e6,
        "p50_us": ordered[len(ordered) // 2] * 1e6,
        "p99_us": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6,
        "max_us": ordered[-1] * 1e6,
    }


def checkpoint_cost(store_path: Path, answers: int, paced: int) -> dict[str, object]:
    numbers = distinct_numbers(answers + paced, seed=4242)
    with Checkpoint.open(store_path) as store:
        store.open_job(now=utc_now_iso(), restart=False)
        rows = store._con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

        def one(number: int) -> float:
            t0 = time.perf_counter()
            store.mark_inflight(number, utc_now_iso())
            t1 = time.perf_counter()
            result = _answer()  # stands for the call; not timed
            t2 = time.perf_counter()
            store.record(number, result)
            return (t1 - t0) + (time.perf_counter() - t2)

        burst = [one(n) for n in numbers[:answers]]
        paced_samples = []
        next_slot = time.monotonic()
        for number in numbers[answers:]:
            next_slot += 0.05
            paced_samples.append(one(number))
            time.sleep(max(0.0, next_slot - time.monotonic()))
    return {"store_rows": rows, "burst": _stats_us(burst), "paced": _stats_us(paced_samples)}


def _per_call(fn: Callable[[int], object], count: int) -> float:
    t0 = time.process_time()
    for i in range(count):
        fn(i)
    return (time.process_time() - t0) / count * 1e6


def components(count: int) -> dict[str, float]:
    """Microseconds of CPU per call."""
    numbers = [str(n) for n in distinct_numbers(count, seed=77)]
    client = MobileStatusClient(
        None,  # type: ignore[arg-type]  # build_request never touches the session
        Endpoint.parse("http://127.0.0.1:8787"),
        Credentials("AKIDbenchmark000000000000000000000000", "benchmarkSecretKey00000000000000"),
    )
    reply = BusinessReply(result="0", status_code=0, description="Success", request_id="x")
    out: dict[str, float] = {
        "normalize_mobile (plain cell)": _per_call(lambda i: normalize_mobile(numbers[i]), count),
        "normalize_mobile (+86 138 0013 8000)": _per_call(
            lambda i: normalize_mobile(f"+86 {numbers[i][:3]} {numbers[i][3:7]} {numbers[i][7:]}"), count
        ),
        "build_request (JSON body + TC3 signature)": _per_call(
            lambda i: client.build_request(numbers[i]), count
        ),
        "parse_reply": _per_call(lambda i: parse_reply(200, "application/json", _REPLY), count),
        "classify + result_from_reply": _per_call(
            lambda i: (classify(reply), result_from_reply(reply, "2026-11-26T23:01:59Z")), count
        ),
        "utc_now_iso": _per_call(lambda i: utc_now_iso(), count),
    }
    with tempfile.TemporaryDirectory() as tmp, Checkpoint.open(Path(tmp) / "s.sqlite") as store:
        store.open_job(now=utc_now_iso(), restart=False)
        ints = [int(n) for n in numbers]
        out["checkpoint mark_inflight (autocommit)"] = _per_call(
            lambda i: store.mark_inflight(ints[i], "2026-11-26T23:01:59Z"), count
        )
        answer = _answer()
        out["checkpoint record (one transaction)"] = _per_call(lambda i: store.record(ints[i], answer), count)
    return out


_CHOSEN = {
    ("batchverify/pipeline.py", "scan_input"): "scan_input (read, normalize, dedupe)",
    ("batchverify/pipeline.py", "plan_sends"): "plan_sends",
    ("batchverify/pipeline.py", "write_output"): "write_output",
    ("batchverify/client.py", "build_request"): "MobileStatusClient.build_request (JSON + signing)",
    ("batchverify/client.py", "query"): "MobileStatusClient.query (send side, incl. build_request)",
    ("aiohttp/client_proto.py", "data_received"): "aiohttp ResponseHandler.data_received (reply parsing)",
    ("batchverify/client.py", "parse_reply"): "parse_reply",
    ("batchverify/checkpoint.py", "mark_inflight"): "Checkpoint.mark_inflight",
    ("batchverify/checkpoint.py", "record"): "Checkpoint.record",
    ("batchverify/ratelimit.py", "acquire"): "SlidingWindowLimiter.acquire",
    ("batchverify/timeutil.py", "utc_now_iso"): "utc_now_iso",
}


def _area(filename: str, func: str) -> str:
    """A coarse owner of a profiled function's own time."""
    if filename == "~":
        for needle, area in (
            ("sqlite3", "SQLite calls (checkpoint)"),
            ("_hashlib", "hashing (TC3 signing)"),
            ("hmac", "hashing (TC3 signing)"),
            ("epoll", "waiting in epoll (idle)"),
            ("socket", "socket system calls"),
            ("_imp.", "start-up: imports"),
            ("marshal", "start-up: imports"),
            ("builtins.compile", "start-up: imports"),
            ("__build_class__", "start-up: imports"),
            ("_csv", "CSV read/write"),
            ("_json", "JSON"),
            ("_ssl", "start-up: TLS context"),
        ):
            if needle in func:
                return area
        return "other built-ins"
    if "importlib" in filename or filename.startswith("<frozen") or func == "<module>":
        return "start-up: imports"
    if "/batchverify/" in filename:
        return "batchverify/" + Path(filename).name
    if "/site-packages/" in filename:
        return filename.split("/site-packages/", 1)[1].split("/", 1)[0].split(".", 1)[0]
    name = Path(filename).name
    if "/asyncio/" in filename or name == "selectors.py":
        return "asyncio event loop"
    if name in ("hmac.py", "hashlib.py"):
        return "hashing (TC3 signing)"
    if "/json/" in filename:
        return "JSON"
    return "stdlib: " + name


def profile_summary(path: Path, rows: int, baseline: Path | None = None, top: int = 15) -> dict[str, object]:
    """Own time by area and by function, and chosen functions' cumulative time; µs per row.

    ``baseline``: a profile of start-up alone (``batchverify --version``), subtracted function by
    function, so that what remains is the work that grows with the rows.
    """
    stats = pstats.Stats(str(path))
    raw = dict(stats.stats)  # type: ignore[attr-defined]
    if baseline is not None:
        base = pstats.Stats(str(baseline)).stats  # type: ignore[attr-defined]
        for key, b in base.items():
            if key in raw:
                v = raw[key]
                raw[key] = (v[0], v[1], max(0.0, v[2] - b[2]), max(0.0, v[3] - b[3]), v[4])
    total = sum(v[2] for v in raw.values())
    chosen = []
    areas: dict[str, float] = {}
    for (filename, _line, func), value in raw.items():
        area = _area(filename, func)
        areas[area] = areas.get(area, 0.0) + value[2]
        for (suffix, name), label in _CHOSEN.items():
            if func == name and filename.endswith(suffix):
                chosen.append({"what": label, "cum_s": value[3], "us_per_row": value[3] / rows * 1e6})
    by_own = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    return {
        "total_s": total,
        "areas": [
            {"area": a, "own_s": t, "share": t / total if total else 0.0, "us_per_row": t / rows * 1e6}
            for a, t in sorted(areas.items(), key=lambda kv: -kv[1])
        ],
        "chosen": sorted(chosen, key=lambda c: -c["cum_s"]),
        "top_own": [
            {
                "function": f"{Path(fn).parent.name}/{Path(fn).name}:{line}({func})" if fn != "~" else func,
                "own_s": v[2],
                "share": v[2] / total if total else 0.0,
                "us_per_row": v[2] / rows * 1e6,
            }
            for (fn, line, func), v in by_own
        ],
    }


def instrumented(stats_path: Path, stop_after: int, argv: list[str]) -> None:
    """Run ``batchverify`` with the sender's checkpoint calls timed (see the module docstring)."""
    import os

    from batchverify import cli

    samples: list[float] = []
    first_mark: list[float] = []
    pending: dict[int, float] = {}
    original_mark, original_record = Checkpoint.mark_inflight, Checkpoint.record

    def mark_inflight(self: Checkpoint, number: int, now: str) -> None:
        t0 = time.perf_counter()
        original_mark(self, number, now)
        t1 = time.perf_counter()
        if not first_mark:
            first_mark.append(t0)
        pending[number] = t1 - t0

    def record(self: Checkpoint, number: int, result: RowResult) -> None:
        t0 = time.perf_counter()
        original_record(self, number, result)
        t1 = time.perf_counter()
        samples.append(pending.pop(number, 0.0) + (t1 - t0))
        if len(samples) >= stop_after:
            wall = t1 - first_mark[0]
            doc = {"answers": len(samples), "wall_s": wall, "in_checkpoint_s": sum(samples)}
            doc.update(_stats_us(samples))
            stats_path.write_text(json.dumps(doc))
            os._exit(0)

    Checkpoint.mark_inflight = mark_inflight  # type: ignore[method-assign]
    Checkpoint.record = record  # type: ignore[method-assign]
    cli.main(argv)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    cp = sub.add_parser("checkpoint")
    cp.add_argument("store", type=Path)
    cp.add_argument("--answers", type=int, default=2000)
    cp.add_argument("--paced", type=int, default=100)
    co = sub.add_parser("components")
    co.add_argument("--count", type=int, default=20000)
    pr = sub.add_parser("profile")
    pr.add_argument("pstats", type=Path)
    pr.add_argument("--rows", type=int, required=True)
    pr.add_argument("--baseline", type=Path, help="profile of start-up alone, to subtract")
    ins = sub.add_parser("instrumented")
    ins.add_argument("--stats", type=Path, required=True)
    ins.add_argument("--stop-after", type=int, required=True)
    ins.add_argument("argv", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    if args.what == "instrumented":
        instrumented(args.stats, args.stop_after, [a for a in args.argv if a != "--"])
        return
    if args.what == "checkpoint":
        result: object = checkpoint_cost(args.store, args.answers, args.paced)
    elif args.what == "components":
        result = components(args.count)
    else:
        result = profile_summary(args.pstats, args.rows, args.baseline)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""One rate cap shared by processes and hosts: the host window (a file under flock) and the Redis
window (a sorted set timed by the Redis server), tested for real: separate processes, a real
redis-server, the real command line against the strict simulator. No mocks.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchverify.engine.gate import StrictGate, shared_gate
from batchverify.engine.ratestore import HostWindow, MemoryWindow, host_window_path, window_dir, window_key
from batchverify.engine.ratestore.remote import RedisWindow
from batchverify.errors import UsageError
from batchverify.simulator import SimConfig, SimulatorServer
from tests.support.cli import cli_env, start_cli

CAP = 20


def busiest_window(times: list[float], window: float) -> int:
    """The most times in any half-open window [t, t + window)."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


# --- the host window -------------------------------------------------------------------------

# A child process hammering one window file: it takes as fast as the window lets it, sleeping the
# wait it is told, for SECONDS, and writes the decision times (the file's own clock) as JSON.
HAMMER = """
import json, sys, threading, time
from pathlib import Path
from batchverify.engine.ratestore import HostWindow
path, out, seconds, threads = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
window = HostWindow(path)
times, lock = [], threading.Lock()
start = float(sys.argv[5])
while time.monotonic() < start:
    time.sleep(0.001)
def run():
    while time.monotonic() < start + seconds:
        wait, at = window.take_at(20, 1.005)
        if wait:
            time.sleep(wait)
        else:
            with lock:
                times.append(at)
ts = [threading.Thread(target=run) for _ in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
Path(out).write_text(json.dumps(times))
"""


def test_two_processes_on_one_window_file_never_exceed_the_cap(tmp_path: Path) -> None:
    path = host_window_path("AKID-two-processes", "sim-host")
    assert not path.exists()  # both children race to create it
    start = time.monotonic() + 0.5  # CLOCK_MONOTONIC is the host's: the children start together
    children = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, str(path), str(tmp_path / f"t{i}.json"), "2.2", "2", str(start)]
        )
        for i in range(2)
    ]
    for child in children:
        assert child.wait(timeout=60) == 0
    per_child = [json.loads((tmp_path / f"t{i}.json").read_text()) for i in range(2)]
    times = sorted(t for child in per_child for t in child)
    assert all(per_child), "both processes sent"
    assert busiest_window(times, 1.0) <= CAP
    assert busiest_window(times, 1.005) <= CAP  # the margin holds across processes too
    # Together they used the cap: 20 in the first instant, then 20 per 1.005 s.
    assert len(times) >= CAP + int(CAP * (2.2 - 1.005) / 1.005) - 2
    # Both children sent within the last few seconds, but they are gone: only live processes share.
    window = HostWindow(path)
    assert window.sharing() == 0  # both writers have ended: a process that is gone shares nothing
    window.close()


def test_host_window_file_is_named_by_a_hash_in_a_private_directory(private_runtime_dir: Path) -> None:
    path = host_window_path("AKIDsecretlooking123", "faceid.tencentcloudapi.com")
    assert path.parent == private_runtime_dir / "rate"
    assert (
        "AKID" not in path.name
        and window_key("AKIDsecretlooking123", "faceid.tencentcloudapi.com") in path.name
    )
    assert window_key("a", "e") != window_key("a", "f") != window_key("b", "e")
    assert path.parent.stat().st_mode & 0o777 == 0o700
    window = HostWindow(path)
    assert asyncio.run(window.take(CAP, 1.0)) == 0.0
    assert path.stat().st_mode & 0o777 == 0o600
    window.close()


def test_a_window_directory_others_can_write_is_refused(private_runtime_dir: Path) -> None:
    window_dir().chmod(0o777)
    with pytest.raises(UsageError, match="writable by others"):
        window_dir()
    with pytest.raises(UsageError):
        shared_gate("AKID-refused", "host", 20, store="host")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_window_directory_of_another_user_is_refused(private_runtime_dir: Path) -> None:
    os.chown(window_dir(), 12345, -1)
    with pytest.raises(UsageError, match="another user"):
        window_dir()


def test_a_symlink_in_place_of_the_window_file_is_refused(tmp_path: Path) -> None:
    path = host_window_path("AKID-symlink", "host")
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    path.symlink_to(target)
    with pytest.raises(UsageError):
        HostWindow(path)


def _fill(window: HostWindow, cap: int = CAP, span: float = 10.0, already: int = 0) -> None:
    for _ in range(cap - already):
        assert window.take_now(cap, span) == 0.0
    assert window.take_now(cap, span) > 0  # full


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 7, b"garbage" * 100, b"BVW1" + b"\xff" * 60])
def test_a_garbled_or_truncated_window_file_starts_afresh(garbage: bytes) -> None:
    path = host_window_path("AKID-garbage", "host")
    path.write_bytes(garbage)
    path.chmod(0o600)
    window = HostWindow(path)
    assert window.take_now(CAP, 10.0) == 0.0  # no traceback, a fresh log
    _fill(window, already=1)  # and the file it wrote is read back
    data = path.read_bytes()
    with path.open("r+b") as f:  # a write cut short
        f.truncate(len(data) // 2)
    assert window.take_now(CAP, 10.0) == 0.0
    window.close()


def test_a_log_from_another_boot_is_discarded() -> None:
    path = host_window_path("AKID-boot", "host")
    window = HostWindow(path)
    _fill(window)
    assert HostWindow(path).take_now(CAP, 10.0) > 0  # same boot: the log binds a second window
    data = bytearray(path.read_bytes())
    data[4:20] = bytes(reversed(data[4:20])) if any(data[4:20]) else b"\x01" * 16  # another boot id
    path.write_bytes(bytes(data))
    assert window.take_now(CAP, 10.0) == 0.0  # monotonic times of another boot mean nothing now
    window.close()


def test_a_hold_in_one_window_holds_the_others_on_the_file() -> None:
    path = host_window_path("AKID-hold", "host")
    first, second = HostWindow(path), HostWindow(path)
    assert second.take_now(CAP, 1.0) == 0.0
    first.hold(0.3)
    wait = second.take_now(CAP, 1.0)
    assert 0.2 < wait <= 0.3
    first.close()
    second.close()


def test_throttled_in_one_gate_holds_another_gate_on_the_same_host_window() -> None:
    path = host_window_path("AKID-gates", "host")
    one, two = StrictGate(20, store=HostWindow(path)), StrictGate(20, store=HostWindow(path))

    async def main() -> float:
        await two.acquire()
        one.throttled()
        start = time.monotonic()
        await two.acquire()
        return time.monotonic() - start

    assert asyncio.run(main()) >= 0.24  # the 0.25 s hold reached the other gate
    assert two.margin == two.base_margin  # the margin is the throttled process's own


def test_shared_gate_picks_its_store_and_says_when_it_is_alone() -> None:
    host = shared_gate("AKID-store", "h", 20)
    assert isinstance(host.store, HostWindow)
    assert shared_gate("AKID-store", "h", 20, store="host") is host
    memory = shared_gate("AKID-store", "h", 20, store="memory")
    assert memory is not host and isinstance(memory.store, MemoryWindow)
    assert host.sharing() == 0 and memory.sharing() == 0 and host.problem is None
    with pytest.raises(UsageError, match="rate store"):
        shared_gate("AKID-store", "h", 20, store="mongodb://x")


def test_environment_names_the_store_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHVERIFY_RATE_STORE", "memory")
    assert isinstance(shared_gate("AKID-env", "h", 20).store, MemoryWindow)


# --- two command-line runs on one key against the strict simulator ------------------------------


def _numbers_csv(path: Path, start: int, count: int) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "phone"])
        writer.writerows([i, str(start + i * 7919)] for i in range(count))
    return path


def _two_runs(
    tmp_path: Path,
    extra_env: dict[str, str],
    own_runtime_dirs: bool = False,
    each: tuple[dict[str, str | None], dict[str, str | None]] = ({}, {}),
) -> dict[str, object]:
    """Two ``batchverify run`` processes on one key at once; the simulator's ledger afterwards.

    ``own_runtime_dirs``: each run gets a state folder of its own, as on two hosts.
    """
    with SimulatorServer(SimConfig(rate_limit=CAP, latency_ms=(20, 80), seed=3)) as sim:
        envs = []
        for i in range(2):
            env = cli_env(sim, tmp_path / "home")
            if own_runtime_dirs:
                state = Path(os.environ["BATCHVERIFY_STATE_DIR"]) / f"host{i}"
                state.mkdir(mode=0o700)
                env["BATCHVERIFY_STATE_DIR"] = str(state)
            env.update(extra_env)
            for name, value in each[i].items():  # this run's own environment (None: unset)
                if value is None:
                    env.pop(name, None)
                else:
                    env[name] = value
            envs.append(env)
        sources = [
            _numbers_csv(tmp_path / f"list{i}.csv", 13500000000 + i * 3_000_000, 150) for i in range(2)
        ]
        runs = [start_cli("run", src, "--yes", env=env) for src, env in zip(sources, envs, strict=True)]
        said = []
        for run in runs:
            out, err = run.communicate(timeout=120)
            assert run.returncode == 0, err
            said.append(out + err)
        # Each run says it shares the account (the second one to start, at least, sees the first),
        # and which window it uses.
        assert any("shared with 1 other batchverify process" in text for text in said), said
        assert all("rate window: at most" in text for text in said), said
        return sim.ledger()


def _check_ledger(ledger: dict[str, object], floor: float) -> float:
    requests, limited = int(str(ledger["requests"])), int(str(ledger["rate_limited"]))
    span = float(str(ledger["last_request_at"])) - float(str(ledger["first_request_at"]))
    rate = (requests - 1) / span
    print(
        f"\nrequests {requests}, RequestLimitExceeded {limited}, max/1s {ledger['max_in_any_second']}, "
        f"combined {rate:.2f}/s"
    )
    assert requests >= 300
    assert limited <= 0.005 * requests
    assert int(str(ledger["max_in_any_second"])) <= CAP
    # The target is 0.95 of the cap (the benchmark measures it); a loaded 2-core CI machine that
    # also runs the simulator and both runs gets a looser floor here.
    assert rate >= floor * CAP
    return rate


def test_two_command_line_runs_on_one_key_share_the_cap(tmp_path: Path) -> None:
    _check_ledger(_two_runs(tmp_path, {}), 0.85)


def test_a_cron_job_and_a_login_shell_share_one_window_by_default(tmp_path: Path) -> None:
    """The nightly job (no runtime folder, its own TMPDIR and HOME, as cron or a systemd service
    starts it) and a resume typed in a login shell (XDG_RUNTIME_DIR set) on one key: one window,
    the user's, whatever the environment; each says which and that it shares."""
    login = tmp_path / "login-runtime"
    login.mkdir(mode=0o700)
    (tmp_path / "cron-tmp").mkdir()
    shell: dict[str, str | None] = {"BATCHVERIFY_STATE_DIR": None, "XDG_RUNTIME_DIR": str(login)}
    cron: dict[str, str | None] = {
        "BATCHVERIFY_STATE_DIR": None,
        "XDG_RUNTIME_DIR": None,
        "TMPDIR": str(tmp_path / "cron-tmp"),
        "HOME": str(tmp_path / "cron-home"),
        "XDG_STATE_HOME": str(tmp_path / "cron-state"),
    }
    _check_ledger(_two_runs(tmp_path, {}, each=(shell, cron)), 0.85)


# --- the Redis window -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A throwaway redis-server on a free port (no persistence)."""

    def __init__(self, binary: str, workdir: Path, port: int | None = None) -> None:
        self.binary, self.workdir = binary, workdir
        self.port = port or _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [
                binary,
                "--save",
                "",
                "--appendonly",
                "no",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed: the Redis rate window is NOT tested"
        message += " (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(binary, tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _redis_window(url: str, account: str = "AKID-redis") -> RedisWindow:
    return RedisWindow(url, window_key(account, "host"), MemoryWindow())


def _hammer_in_threads(windows: list[RedisWindow], seconds: float, span: float) -> list[float]:
    """Each window in its own thread and event loop takes as fast as it is let; the send times."""
    times: list[float] = []
    lock = threading.Lock()

    def thread(window: RedisWindow) -> None:
        async def main() -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                wait = await window.take(CAP, span)
                if wait:
                    await asyncio.sleep(wait)
                else:
                    with lock:
                        times.append(time.monotonic())
            await window.aclose()

        asyncio.run(main())

    threads = [threading.Thread(target=thread, args=(w,)) for w in windows]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return times


def test_two_redis_windows_admit_at_most_the_cap(redis_server: RedisServer) -> None:
    windows = [_redis_window(redis_server.url) for _ in range(2)]
    # The window's span is 1.05 s; the times here are taken after the reply came back, so the
    # check at 1.0 s leaves 50 ms for that.
    times = _hammer_in_threads(windows, 2.3, 1.05)
    assert busiest_window(times, 1.0) <= CAP
    assert len(times) >= CAP + int(CAP * (2.3 - 1.05) / 1.05) - 2


def test_the_redis_window_keeps_time_by_the_server_clock(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    # This process's wall clock is a day off; the window neither reads nor needs it.
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 86_400)
    window = _redis_window(redis_server.url, "AKID-skew")
    times = _hammer_in_threads([window], 1.3, 1.05)
    assert busiest_window(times, 1.0) <= CAP and len(times) >= CAP
    client = redis.Redis(port=redis_server.port)
    key = f"batchverify:rate:{{{window_key('AKID-skew', 'host')}}}:log"
    scores = [score for _, score in client.zrange(key, 0, -1, withscores=True)]
    seconds, micros = client.time()
    client.close()
    assert scores and all(abs(seconds + micros / 1e6 - s / 1e6) < 10 for s in scores)
    assert 0 < client_ttl(redis_server, key) <= 60_000  # nothing lingers


def client_ttl(server: RedisServer, key: str) -> int:
    import redis

    client = redis.Redis(port=server.port)
    try:
        return int(client.pttl(key))
    finally:
        client.close()


def test_an_unreachable_redis_is_a_one_line_usage_error_without_the_password() -> None:
    url = f"redis://user:s3cretpw@127.0.0.1:{_free_port()}/0"
    with pytest.raises(UsageError) as info:
        shared_gate("AKID-unreachable", "host", 20, store=url)
    message = str(info.value)
    assert "\n" not in message and "s3cretpw" not in message
    assert "127.0.0.1" in message and "***" in message


def test_redis_lost_mid_run_goes_on_locally_at_the_rate_and_says_so_once(redis_server: RedisServer) -> None:
    gate = shared_gate("AKID-lost", "host", 20, store=redis_server.url)
    sent: list[float] = []

    async def main() -> None:
        for _ in range(25):
            await gate.acquire()
            sent.append(time.monotonic())
        redis_server.stop()
        for _ in range(30):
            await gate.acquire()
            sent.append(time.monotonic())
        await gate.aclose()

    asyncio.run(main())
    assert gate.problem is not None and "stopped answering" in gate.problem
    assert gate.store.down  # what serve's /readyz reports (rate_store_reachable: false)
    assert busiest_window(sent, 1.0) <= CAP  # the local window knew the sends Redis had admitted
    assert gate.sharing() == 0


def test_two_command_line_runs_share_the_cap_through_redis(tmp_path: Path, redis_server: RedisServer) -> None:
    # Each run gets its own runtime directory: only Redis can make them share.
    runs_env = {"BATCHVERIFY_RATE_STORE": redis_server.url}
    _check_ledger(_two_runs(tmp_path, runs_env, own_runtime_dirs=True), 0.85)


def test_two_hosts_that_lose_redis_keep_to_their_shares(redis_server: RedisServer) -> None:
    """Two hosts (windows with separate local logs) share one account through Redis; Redis is
    killed mid-run: each goes on at its share of the cap (1/2: it had seen the other), so together
    they never exceed it, and each says so."""
    windows = [_redis_window(redis_server.url, "AKID-two-hosts") for _ in range(2)]
    stopper = threading.Timer(1.5, redis_server.stop)
    stopper.start()
    try:
        times = _hammer_in_threads(windows, 4.0, 1.05)
    finally:
        stopper.join()
    assert busiest_window(times, 1.0) <= CAP
    after = [t for t in times if t > times[0] + 2.5]  # well after the fall: both local, each at its share
    assert after and busiest_window(after, 1.0) <= CAP
    for window in windows:
        assert window.problem is not None and "keeps to its share (1/2 of the cap" in window.problem


def test_a_send_that_left_late_is_moved_in_the_redis_window(redis_server: RedisServer) -> None:
    mine, theirs = _redis_window(redis_server.url), _redis_window(redis_server.url)

    async def steps() -> tuple[float, float]:
        wait, member = await mine.take_stamped(1, 0.5)
        assert wait == 0.0 and isinstance(member, str)
        await mine.moved(member, 0.4)
        asked = time.monotonic()
        later = await theirs.take(1, 0.5)
        await mine.aclose()
        await theirs.aclose()
        return later, time.monotonic() - asked

    wait, _ = asyncio.run(steps())
    assert 0.75 < wait <= 0.95  # 0.5 s after the moved send (0.4 s later), less the time since


def test_a_probe_asks_redis_now_and_sharing_resumes_when_it_answers(redis_server: RedisServer) -> None:
    """What serve's /readyz does: a store that stopped is not ready; back, it is, at once."""
    window = _redis_window(redis_server.url)

    async def probe() -> bool:
        try:
            return await window.probe()
        finally:
            await window.aclose()

    assert asyncio.run(probe()) and not window.down
    redis_server.stop()
    assert not asyncio.run(probe()) and window.down
    again = RedisServer(redis_server.binary, redis_server.workdir, port=redis_server.port)
    try:
        assert asyncio.run(probe()) and not window.down
    finally:
        again.stop()

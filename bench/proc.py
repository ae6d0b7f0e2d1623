"""Child processes for the benchmark: the simulator, and measured runs of batchverify and the peers.

Every measured program runs as its own process; ``os.wait4`` gives that child's own CPU time and
peak RSS, so neither the harness nor the simulator is counted against it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from batchverify.simulator import DEMO_SECRET_ID, DEMO_SECRET_KEY

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
LOGS = WORK / "logs"
HOME = WORK / "home"  # the measured programs' home: their answer store is the bench's, never the user's
PYTHON = sys.executable
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_CLK_TCK = os.sysconf("SC_CLK_TCK")
# No proxy, ever: every request of the benchmark goes to 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def child_env(endpoint_url: str | None = None) -> dict[str, str]:
    """The environment of a measured child: demo credentials, no proxy, the simulator's URL."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    for name in ("TENCENTCLOUD_SESSION_TOKEN", "BATCHVERIFY_DEBUG", "TQDM_DISABLE"):
        env.pop(name, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["TENCENTCLOUD_SECRET_ID"] = DEMO_SECRET_ID
    env["TENCENTCLOUD_SECRET_KEY"] = DEMO_SECRET_KEY
    env["PYTHONPATH"] = str(ROOT)
    env["HOME"] = str(HOME)
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        env.pop(name, None)
    if endpoint_url is not None:
        env["BATCHVERIFY_ENDPOINT"] = endpoint_url
    else:
        env.pop("BATCHVERIFY_ENDPOINT", None)
    return env


@dataclass
class Measured:
    """One finished child process."""

    argv: list[str]
    returncode: int
    started_epoch: float  # time.time() just before the process was started
    wall: float  # seconds from start to exit
    user: float  # CPU seconds of this child
    sys: float
    maxrss_mb: float  # peak resident set, MiB
    stdout: str
    stderr: str
    steal: float = 0.0  # share of the machine's CPU time the hypervisor took away meanwhile

    @property
    def cpu(self) -> float:
        return self.user + self.sys


def running(proc: subprocess.Popen[bytes]) -> bool:
    """Whether ``proc`` still runs, without reaping it (``Popen.poll`` would, and ``os.wait4`` then
    finds no child to measure)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False


class _PeakWatch:
    """The measured process's own peak RSS: its ``VmHWM``, read every 20 ms once it has become the
    program (its command line is ``argv``). ``wait4``'s peak starts at the bench's own size, since a
    child's high-water mark carries its parent's pages from before its ``exec``."""

    def __init__(self, pid: int, argv: list[str]) -> None:
        self._status = Path(f"/proc/{pid}/status")
        self._cmdline = Path(f"/proc/{pid}/cmdline")
        self._argv = ("\0".join(argv) + "\0").encode()
        self.peak_kib: int | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(OSError, ValueError):
                if self._cmdline.read_bytes() == self._argv:
                    for line in self._status.read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            kib = int(line.split()[1])
                            self.peak_kib = max(self.peak_kib or 0, kib)
            self._done.wait(0.02)

    def stop(self) -> float | None:
        """The peak seen, MiB (None: the process ended before one was read)."""
        self._done.set()
        self._thread.join()
        return None if self.peak_kib is None else self.peak_kib / 1024


def run_measured(
    argv: list[str],
    *,
    env: dict[str, str],
    log_name: str,
    timeout: float = 3600.0,
    while_running: Callable[[subprocess.Popen[bytes], float], None] | None = None,
) -> Measured:
    """Run ``argv`` to completion; wall time, CPU and peak RSS of that process alone.

    ``while_running(proc, started_epoch)`` is called right after the start (from this thread) and
    may end the process early. Output goes to bench/work/logs/<log_name>.{out,err}.
    """
    LOGS.mkdir(parents=True, exist_ok=True)
    out_path, err_path = LOGS / f"{log_name}.out", LOGS / f"{log_name}.err"
    ticks0 = cpu_ticks()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started_epoch = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=ROOT)
        peak = _PeakWatch(proc.pid, argv)
        watchdog = threading.Timer(timeout, _kill, (proc.pid,))
        watchdog.daemon = True
        watchdog.start()
        try:
            if while_running is not None:
                while_running(proc, started_epoch)
            _pid, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _kill(proc.pid)
            raise
        finally:
            watchdog.cancel()
            own_peak = peak.stop()
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        argv=argv,
        returncode=proc.returncode,
        started_epoch=started_epoch,
        wall=wall,
        user=usage.ru_utime,
        sys=usage.ru_stime,
        # The program's own peak when it was seen; else wait4's, which may be the bench's size.
        maxrss_mb=own_peak if own_peak is not None else usage.ru_maxrss / 1024,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        steal=steal_share(ticks0, cpu_ticks()),
    )


@contextlib.contextmanager
def cores_loaded(count: int) -> Iterator[None]:
    """``count`` busy processes for the duration: a machine whose cores are all in use (more
    processes than cores: oversubscribed)."""
    burners = [subprocess.Popen([PYTHON, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def batchverify(*args: str) -> list[str]:
    """The command line of one ``batchverify`` invocation (the venv's interpreter)."""
    return [PYTHON, "-m", "batchverify", *args]


class Simulator:
    """``python -m batchverify.simulator`` as a separate process, with its ledger over HTTP."""

    def __init__(
        self,
        name: str,
        *,
        rate_limit: int,
        latency_ms: tuple[int, int] = (0, 0),
        faults: float = 0.0,
        seed: int = 7,
    ) -> None:
        self.name = name
        self.rate_limit = rate_limit
        self.latency_ms = latency_ms
        self.faults = faults
        self.seed = seed
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def describe(self) -> str:
        limit = f"{self.rate_limit}/s sliding window" if self.rate_limit else "off"
        lo, hi = self.latency_ms
        latency = f"{lo}-{hi} ms" if hi else "none"
        faults = f", faults {self.faults:g}" if self.faults else ""
        return f"limit {limit}, latency {latency}{faults}, seed {self.seed}"

    def start(self) -> Simulator:
        LOGS.mkdir(parents=True, exist_ok=True)
        lo, hi = self.latency_ms
        argv = [
            PYTHON,
            "-m",
            "batchverify.simulator",
            "--port",
            "0",
            "--rate-limit",
            str(self.rate_limit),
            "--latency-ms",
            f"{lo}-{hi}",
            "--faults",
            str(self.faults),
            "--seed",
            str(self.seed),
        ]
        err = (LOGS / f"simulator-{self.name}.err").open("wb")
        self._proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=err, env=child_env(), cwd=ROOT, text=True
        )
        err.close()
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.url = match.group(1)
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the SDK's ``HttpProfile(endpoint=...)``."""
        return self.url.removeprefix("http://")

    def ledger(self) -> dict[str, object]:
        with _OPENER.open(self.url + "/__ledger", timeout=30) as resp:
            doc: dict[str, object] = json.loads(resp.read())
        return doc

    def reset(self) -> None:
        req = urllib.request.Request(self.url + "/__reset", data=b"", method="POST")
        with _OPENER.open(req, timeout=30) as resp:
            resp.read()

    def cpu_seconds(self) -> float:
        """CPU (user + sys) the simulator process has used so far."""
        assert self._proc is not None
        fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK


@dataclass
class Rate:
    """Accepted requests per second from the ledger's first to last accepted request."""

    accepted: int
    span: float
    per_second: float


def ledger_rate(ledger: dict[str, object]) -> Rate:
    requests = int(ledger["requests"])  # type: ignore[call-overload]
    limited = int(ledger["rate_limited"])  # type: ignore[call-overload]
    accepted = requests - limited
    first, last = ledger["first_request_at"], ledger["last_request_at"]
    if first is None or last is None or accepted < 2:
        return Rate(accepted, 0.0, 0.0)
    span = float(last) - float(first)  # type: ignore[arg-type]
    return Rate(accepted, span, (accepted - 1) / span if span > 0 else 0.0)


def loadavg() -> str:
    """The first three fields of /proc/loadavg."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def cpu_probe_ms() -> tuple[float, float]:
    """A fixed pure-Python loop, timed (wall ms, CPU ms): how fast this machine is right now."""
    t0, c0 = time.perf_counter(), time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i & 7
    return (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000


def cpu_ticks() -> tuple[int, int]:
    """(all CPU ticks, steal ticks) of the machine so far, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    return sum(fields), fields[7] if len(fields) > 7 else 0


def steal_share(start: tuple[int, int], end: tuple[int, int]) -> float:
    """Share of CPU time stolen by the hypervisor between two ``cpu_ticks()`` readings."""
    total = end[0] - start[0]
    return (end[1] - start[1]) / total if total > 0 else 0.0


# Every machine_state() reading: (load average 1 min, steal share, probe wall ms, probe CPU ms).
STATES: list[tuple[float, float, float, float]] = []


def machine_state() -> str:
    """Load average, CPU steal over one second and the CPU probe, before and after each section."""
    t0 = cpu_ticks()
    wall, cpu = cpu_probe_ms()
    time.sleep(1.0)
    steal = steal_share(t0, cpu_ticks())
    load = loadavg()
    try:
        load1 = float(load.split()[0])
    except (ValueError, IndexError):
        load1 = -1.0
    STATES.append((load1, steal, wall, cpu))
    return (
        f"load average {load}; CPU steal {steal * 100:.0f} %; "
        f"CPU probe (fixed 3M-iteration loop) {wall:.0f} ms wall / {cpu:.0f} ms CPU"
    )


def forget_answers() -> None:
    """Remove the measured programs' answer store: the next run shares its answers into a new one
    (what a first run pays), and nothing it reuses comes from an earlier measurement."""
    folder = HOME / ".local" / "share" / "batchverify"
    for path in folder.glob("answers.sqlite*"):
        path.unlink()

"""Shared pieces of the benchmarks: targets, percentiles, JSON output, the server.

``Report`` prints each figure next to its target (``... (target <= 20 ms) OK``)
and writes everything to ``bench/out/NAME.json``. ``Server`` runs ``tailor
serve`` as a subprocess on a free port of 127.0.0.1 with its own data
directory and logs to a file (a pipe nobody reads would block the server).
``CpuWatch`` measures how much CPU *other* processes used during a
measurement: on a shared 2-core machine that is the first thing to rule out
when a figure looks wrong.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
TAILOR = str(Path(sys.executable).parent / "tailor")
#: exit status of a benchmark that ran but missed a target (errors exit 1 or 2)
EXIT_MISS = 3


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 100)))  # ceil without floats
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


@dataclass
class Report:
    """Figures and target checks of one benchmark run."""

    name: str
    params: dict[str, Any]
    checks: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, label: str, value: float, op: str, target: float, unit: str) -> bool:
        ok = value <= target if op == "<=" else value < target if op == "<" else value >= target
        print(
            f"{label} {value:.1f} {unit} (target {op} {target:g} {unit}) {'OK' if ok else 'MISS'}"
        )
        self.checks.append(
            {"label": label, "value": value, "op": op, "target": target, "unit": unit, "ok": ok}
        )
        return ok

    def info(self, label: str, value: Any) -> None:
        print(f"  {label}: {value}")
        self.figures[label] = value

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.checks)

    def write(self) -> Path:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        path = OUT_DIR / f"{self.name}.json"
        payload = {
            "name": self.name,
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "commit": git_commit(),
            "params": self.params,
            "checks": self.checks,
            "figures": self.figures,
            "ok": self.ok,
        }
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"results written to {path.relative_to(BENCH_DIR.parent)}")
        return path


def git_commit() -> str:
    """HEAD of the checkout being measured, with ``+dirty`` when tracked files changed."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=BENCH_DIR.parent, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_key(data_dir: Path, tenant: str = "bench") -> str:
    """A fresh API key for ``tenant`` from the CLI (it prints only the key)."""
    out = subprocess.run(
        [TAILOR, "keys", "create", "--tenant", tenant, "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not out.startswith("tlr_"):
        raise RuntimeError(f"unexpected output of tailor keys create: {out!r}")
    return out


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM / Threads of a process, in kB (threads as a count)."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "VmHWM", "Threads"}:
            found[key] = int(value.split()[0])
    return found


def _cpu_ticks(pid: int | None = None) -> int:
    """Busy ticks of the whole machine (pid None) or of one process (user + system)."""
    if pid is None:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        ticks = [int(f) for f in fields]
        return sum(ticks) - ticks[3] - ticks[4]  # minus idle and iowait
    stat = Path(f"/proc/{pid}/stat").read_text()
    parts = stat.rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])  # utime, stime (fields 14 and 15)


class CpuWatch:
    """CPU used during a block by the server, by this process, and by everyone else."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.hz = os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> CpuWatch:
        self.t0 = time.perf_counter()
        self.start = (_cpu_ticks(), _cpu_ticks(self.server_pid), _cpu_ticks(os.getpid()))
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.t0
        end = (_cpu_ticks(), _cpu_ticks(self.server_pid), _cpu_ticks(os.getpid()))
        total, server, client = ((b - a) / self.hz for a, b in zip(self.start, end, strict=True))
        self.result = {
            "wall_s": round(wall, 2),
            "server_cores": round(server / wall, 2),
            "client_cores": round(client / wall, 2),
            "other_cores": round(max(total - server - client, 0.0) / wall, 2),
        }


def busy_cores(window: float = 1.0) -> float:
    """Cores kept busy by anything on the machine during ``window`` seconds."""
    hz = os.sysconf("SC_CLK_TCK")
    before = _cpu_ticks()
    time.sleep(window)
    return (_cpu_ticks() - before) / hz / window


def wait_for_idle(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (up to ``max_wait`` s) for 3 quiet seconds in a row; return the last reading."""
    deadline = time.monotonic() + max_wait
    quiet, busy = 0, busy_cores()
    while time.monotonic() < deadline:
        busy = busy_cores()
        quiet = quiet + 1 if busy < threshold else 0
        if quiet >= 3:
            return busy
    if max_wait > 0:
        print(f"WARNING: machine still busy ({busy:.2f} cores) after {max_wait:.0f} s; going on")
    return busy


class Stress:
    """``n`` busy-looping processes, to see how a figure degrades under CPU contention."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Stress:
        for _ in range(self.n):
            self.procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


class PySpy:
    """``py-spy record`` of a process during a block, as collapsed stacks (when asked for)."""

    def __init__(self, pid: int, path: Path, enabled: bool) -> None:
        self.pid, self.path, self.enabled = pid, path, enabled
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PySpy:
        exe = Path(sys.executable).parent / "py-spy"
        if self.enabled and not exe.exists():
            raise SystemExit("--py-spy needs py-spy in the virtualenv: pip install py-spy")
        if self.enabled:
            cmd = [str(exe), "record", "--pid", str(self.pid), "--rate", "250", "--threads"]
            cmd += ["--nonblocking", "--format", "raw", "--output", str(self.path)]
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)  # let it attach
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)
            print(f"  py-spy profile: {self.path.relative_to(BENCH_DIR.parent)}")


class Server:
    """``tailor serve`` on 127.0.0.1 and a free port, stopped on exit."""

    def __init__(self, data_dir: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "TAILOR_LOG_LEVEL": "warning", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        cmd = [TAILOR, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir)]
        start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        deadline = start + 180
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}; see {self.log_path}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    self.startup_s = time.perf_counter() - start
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"server not healthy after 180 s; see {self.log_path}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def metric(self, client: httpx.Client, name: str) -> float:
        """One unlabelled sample of the server's Prometheus metrics (0 when absent)."""
        text = client.get("/metrics").text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings (from ``--server-env``) as a dict."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--server-env wants KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def run_seeded(name: str, args: Any, run: Callable[[Any, Path, Report], None]) -> None:
    """Run one seeded benchmark: data dir (``--data-dir`` or a temp one), report, exit code.

    Exits 0 when every target is met, ``EXIT_MISS`` when one is missed.
    """
    temp = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="tailor-bench-")) if temp else args.data_dir.resolve()
    report = Report(name, {k: v for k, v in vars(args).items() if k != "data_dir"})
    report.params["data_dir"] = str(data_dir)
    try:
        run(args, data_dir, report)
    finally:
        if temp and not getattr(args, "keep", False):
            shutil.rmtree(data_dir, ignore_errors=True)
    report.write()
    sys.exit(0 if report.ok else EXIT_MISS)


def add_server_bench_args(parser: Any) -> None:
    """Options every seeded server benchmark shares (data dir, idle wait, contention)."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="seeded data dir to create or reuse (default: a temp dir, removed)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server, e.g. OMP_NUM_THREADS=1",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=120,
        help="wait up to this many s for the machine to be idle first",
    )
    parser.add_argument(
        "--stress",
        type=int,
        default=0,
        help="busy-loop processes running during the measurement (contention)",
    )
    parser.add_argument(
        "--attempts",
        type=int,
        default=3,
        help="repeat the measurement (up to this many times) when disturbed",
    )

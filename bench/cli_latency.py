"""Wall time of CLI commands that need no model: ``tailor --help``, ``tailor keys create``.

Each command runs REPEAT times as a fresh subprocess (the way a user runs
it); the median is compared with the target. ``keys create`` runs against a
temporary data directory (its first run also creates the database and applies
the migrations; that run is reported separately). When a command misses, the
slowest imports (``python -X importtime``) are printed to show why.

Target (DESIGN.md "Quality and speed bar"): < 1 s each, on one 2-core machine
(sentence-transformers alone takes ~9.5 s to import, litellm ~5 s, so any
eager import of them shows at once).

    python bench/cli_latency.py --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import EXIT_MISS, TAILOR, Report, wait_for_idle


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def slowest_imports(args: list[str], top: int = 8) -> list[tuple[float, str]]:
    """The ``top`` imports with the largest cumulative time (s) when running ``tailor ARGS``."""
    code = "import sys; from service.cli import cli; sys.argv = ['tailor', *sys.argv[1:]]; cli()"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args], capture_output=True, text=True
    )
    found = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = (p.strip() for p in line[len("import time:") :].split("|"))
            if cumulative.isdigit():
                found.append((int(cumulative) / 1e6, name))
    return sorted(found, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--wait-idle", type=float, default=60)
    args = parser.parse_args()
    report = Report("cli_latency", vars(args))
    report.info("busy cores before measuring", round(wait_for_idle(args.wait_idle), 2))
    with tempfile.TemporaryDirectory(prefix="tailor-bench-cli-") as tmp:
        data_dir = str(Path(tmp) / "data")
        commands = {
            "tailor --help": [TAILOR, "--help"],
            "tailor keys create": [
                TAILOR,
                "keys",
                "create",
                "--tenant=bench",
                f"--data-dir={data_dir}",
            ],
        }
        report.info(
            "tailor keys create, first run (creates the db)",
            f"{wall(commands['tailor keys create']):.3f} s",
        )
        for label, cmd in commands.items():
            times = [wall(cmd) for _ in range(args.repeat)]
            report.info(f"{label} runs (s)", [round(t, 3) for t in times])
            median = statistics.median(times)
            if not report.check(f"{label} median", median * 1000, "<", 1000, "ms"):
                print("  slowest imports (cumulative s):")
                for seconds, name in slowest_imports(cmd[1:]):
                    print(f"    {seconds:6.3f}  {name}")
    report.write()
    sys.exit(0 if report.ok else EXIT_MISS)


if __name__ == "__main__":
    main()

"""A real `tailor serve` subprocess on 127.0.0.1, for tests that need one."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

KEY = re.compile(r"^tlr_[A-Za-z0-9_-]{40,}$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """Starts at construction and returns once /healthz answers."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")} | (env or {})
        # A file, not a pipe: an unread pipe fills up with access logs and blocks the server.
        self.log = data_dir.parent / f"server-{self.port}.log"
        command = [sys.executable, "-m", "service", "serve", "--port", str(self.port)]
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [*command, "--data-dir", str(data_dir)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited during start-up:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise TimeoutError("server did not start")

    def printed_keys(self) -> list[str]:
        """API keys the server printed so far."""
        return [line for line in self.log.read_text().splitlines() if KEY.match(line)]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

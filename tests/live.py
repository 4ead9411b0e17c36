"""A real `tailor serve` subprocess on 127.0.0.1, for tests that need one.

The server binds port 0 itself and prints the port it got (``tailor listening on
http://127.0.0.1:PORT``), so no port is picked here, closed, and raced for later.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

KEY = re.compile(r"^tlr_[A-Za-z0-9_-]{40,}$")
LISTENING = re.compile(r"^tailor listening on (http://127\.0\.0\.1:(\d+))$", re.MULTILINE)
#: a safety limit only: start-up (torch, the embedding model) takes a few seconds
START_TIMEOUT = 120.0
_logs = itertools.count()


class Server:
    """Starts at construction and returns once it printed its URL and /healthz answers."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")} | (env or {})
        # A file, not a pipe: an unread pipe fills up with access logs and blocks the server.
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log = data_dir.parent / f"server-{os.getpid()}-{next(_logs)}.log"
        command = [sys.executable, "-m", "service", "serve", "--port", "0"]
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [*command, "--data-dir", str(data_dir)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            self.url, self.port = self._wait_until_listening()
            # Printed after start-up completed: the first request is answered.
            assert httpx.get(f"{self.url}/healthz", timeout=30).status_code == 200
        except BaseException:
            self.stop()
            raise

    def _wait_until_listening(self) -> tuple[str, int]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = LISTENING.search(self.log.read_text())
            if found:
                return found.group(1), int(found.group(2))
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited during start-up:\n{self.log.read_text()}")
            time.sleep(0.05)
        raise TimeoutError(f"server did not start:\n{self.log.read_text()}")

    def key_for(self, tenant: str) -> str:
        """A new API key of ``tenant`` (tests sharing a server each use their own tenant)."""
        from store.db import Store
        from store.keys import create_key

        store = Store.open(self.data_dir)
        try:
            return create_key(store, tenant)[1]
        finally:
            store.close()

    def printed_keys(self) -> list[str]:
        """API keys the server printed so far."""
        return [line for line in self.log.read_text().splitlines() if KEY.match(line)]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Kill the process if it still runs (for fixtures' clean-up)."""
        if self.proc.poll() is None:
            self.kill()

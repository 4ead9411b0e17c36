"""A real `tailor serve` process: kill -9 loses no acknowledged write, and lost
or damaged index files are rebuilt from SQLite at start-up."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import Server


@pytest.fixture
def started() -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        if server.proc.poll() is None:
            server.kill()


@pytest.mark.slow  # a real server killed and restarted: ~20-30 s
def test_kill_9_loses_no_acknowledged_write_and_index_is_rebuilt(
    tmp_path: Path, started: list[Server]
) -> None:
    data_dir = tmp_path / "data"
    first = Server(data_dir)
    started.append(first)
    acked: list[str] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        with httpx.Client(base_url=first.url, headers=headers, timeout=30) as http:
            i = 0
            while not stop.is_set():
                try:
                    r = http.post(
                        f"/v1/users/u{n}/interactions",
                        json={
                            "context": f"Email to client {n} about invoice {i}",
                            "draft": "Hi!",
                            "final": "Hello.",
                            "feedback": f"formal {n}",
                        },
                    )
                except httpx.TransportError:
                    return  # the server died mid-request: that write was never acknowledged
                if r.status_code == 201:
                    acked.append(f"u{n}/{r.json()['id']}")
                i += 1

    # The first start on an empty data directory prints one key, once.
    first.kill(signal.SIGTERM)
    keys = first.printed_keys()
    assert len(keys) == 1
    headers = {"Authorization": f"Bearer {keys[0]}"}

    second = Server(data_dir)
    started.append(second)
    first = second
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    second.kill(signal.SIGKILL)  # while writers are still sending
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 30
    assert second.printed_keys() == []  # not a fresh data directory any more

    third = Server(data_dir)
    started.append(third)
    with httpx.Client(base_url=third.url, headers=headers, timeout=30) as http:
        for n in range(3):
            mine = {a.split("/")[1] for a in acked if a.startswith(f"u{n}/")}
            listed = http.get(f"/v1/users/u{n}/interactions", params={"limit": 500}).json()
            assert mine <= {i["id"] for i in listed["data"]}
        before = http.post("/v1/users/u1/policy", json={"context": "Email to client 1"}).json()
        assert "formal 1." in before["preference"]
    third.kill(signal.SIGTERM)

    for path in (data_dir / "index").glob("*.faiss"):
        path.unlink()
    (data_dir / "index" / "garbage.faiss").write_bytes(b"junk")
    fourth = Server(data_dir)
    started.append(fourth)
    with httpx.Client(base_url=fourth.url, headers=headers, timeout=30) as http:
        after = http.post("/v1/users/u1/policy", json={"context": "Email to client 1"}).json()
    assert after == before
    rebuilt = [p for p in (data_dir / "index").glob("*.faiss") if p.name != "garbage.faiss"]
    assert len(rebuilt) == 1  # u1's index, rebuilt on first use

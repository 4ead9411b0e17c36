"""Shared fixtures: real SQLite in a temp data dir, the real packaged embedding
model (loaded once per session), the real app through FastAPI's TestClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from learners.backends.embeddings import SentenceTransformerEmbedder
from service.app import create_app
from service.settings import Settings
from store.db import Store
from store.keys import create_key
from tests.live import Server


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No test may read or write a real user's data directory or settings.
    for name in list(__import__("os").environ):
        if name.startswith("TAILOR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `tailor serve` subprocess for the session's tests that only talk HTTP to it.

    Each such test uses its own tenant (``live_server.key_for(tenant)``), so they
    cannot see each other's data; tests about the process itself (kill -9, restarts,
    the key printed at first start) start their own ``Server``.
    """
    server = Server(tmp_path_factory.mktemp("live") / "data", {"TAILOR_METRICS_KEY": METRICS_KEY})
    yield server
    server.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    s = Store.open(data_dir)
    yield s
    s.close()


@pytest.fixture
def make_key(data_dir: Path) -> Callable[[str], str]:
    def make(tenant: str) -> str:
        s = Store.open(data_dir)
        try:
            return create_key(s, tenant)[1]
        finally:
            s.close()

    return make


@pytest.fixture
def make_app(data_dir: Path, embedder: SentenceTransformerEmbedder) -> Callable[..., FastAPI]:
    def make(**overrides: Any) -> FastAPI:
        return create_app(Settings(data_dir=data_dir, **overrides), embedder=embedder)

    return make


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
def key(make_key: Callable[[str], str]) -> str:
    return make_key("acme")


@pytest.fixture
def client(app: FastAPI, key: str) -> Iterator[TestClient]:
    """A client of tenant 'acme' (its key sent on every request)."""
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


#: the operator's /metrics key in tests (``TAILOR_METRICS_KEY``)
METRICS_KEY = "metrics-operator-key"


def scrape(client: TestClient) -> str:
    """/metrics as the operator reads it (the app must have ``metrics_key=METRICS_KEY``)."""
    response = client.get("/metrics", headers=bearer(METRICS_KEY))
    assert response.status_code == 200, response.text
    return response.text


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def log(client: TestClient, user: str, **fields: Any) -> dict[str, Any]:
    body = {"context": "Email to a colleague", "draft": "Hi", "final": "Hi"} | fields
    response = client.post(f"/v1/users/{user}/interactions", json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result

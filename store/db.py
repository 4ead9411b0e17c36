"""The SQLite database behind Tailor: connections, transactions, migrations.

One file (``tailor.db``) in the data directory, in WAL mode. Each thread gets
its own connection (FastAPI runs sync routes in a thread pool), so nothing is
shared behind a lock. Writes go through :meth:`Store.transaction`, which takes
the write lock up front (``BEGIN IMMEDIATE``) so that a read-then-write
transaction never fails half way on a lock upgrade.

Durability: ``synchronous=NORMAL`` in WAL mode survives the process being
killed at any moment (the OS keeps what was written); only a power cut can
lose the last commits. ``synchronous`` can be raised to ``FULL`` with
``TAILOR_SQLITE_SYNCHRONOUS`` for that case.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from store.migrations import MIGRATIONS

DB_FILENAME = "tailor.db"


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/tailor``, else ``~/.local/share/tailor``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tailor"


class Store:
    """Handle on one data directory: the database file and the folders beside it."""

    def __init__(self, data_dir: Path, *, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in {"NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"unsupported synchronous mode {synchronous!r}")
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_FILENAME
        self.synchronous = synchronous.upper()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []

    @classmethod
    def open(cls, data_dir: Path, *, synchronous: str = "NORMAL") -> Store:
        """Create the data directory if needed and apply pending migrations."""
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        store = cls(data_dir, synchronous=synchronous)
        store.migrate()
        return store

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; every write is either a
        # single autocommitted statement or inside transaction()/atomic().
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        with self._lock:
            self._connections.append(conn)
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection, opened on first use."""
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(self._connect(), execute_plugins=False)
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction: everything inside commits together or not at all."""
        db = self.db
        if db.conn.in_transaction:
            # Nested use joins the outer transaction through a savepoint.
            with db.atomic():
                yield db
            return
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
        else:
            db.conn.execute("COMMIT")

    def migrate(self) -> list[str]:
        """Apply pending named migrations; return the names applied now."""
        pending = [m.name for m in MIGRATIONS.pending(self.db)]
        MIGRATIONS.apply(self.db)
        return pending

    def applied_migrations(self) -> list[str]:
        return [m.name for m in MIGRATIONS.applied(self.db)]

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

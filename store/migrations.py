"""Named, ordered schema migrations, applied at start-up.

Each migration runs in a transaction together with its record in
``_sqlite_migrations`` (sqlite-utils ``Migrations``), so a crash half way
leaves it pending rather than half applied. Never edit an applied migration:
add a new one.
"""

import sqlite_utils
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("tailor")


def _execute_all(db: sqlite_utils.Database, script: str) -> None:
    # Not executescript(): sqlite3 commits any open transaction before running
    # a script, which would break the migration's atomicity.
    for statement in script.split(";\n"):
        if statement.strip():
            db.execute(statement)


@MIGRATIONS(name="0001_initial")
def initial(db: sqlite_utils.Database) -> None:
    _execute_all(
        db,
        """
        CREATE TABLE tenants (
            name TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
        );
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL REFERENCES tenants(name),
            key_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE TABLE interactions (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            user TEXT NOT NULL,
            context TEXT NOT NULL,
            draft TEXT NOT NULL,
            final TEXT NOT NULL,
            task TEXT,
            feedback TEXT,
            client_id TEXT,
            metadata TEXT,
            edit_distance INTEGER NOT NULL,
            accepted INTEGER NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX interactions_user ON interactions (tenant, user, created_at);
        CREATE UNIQUE INDEX interactions_client_id
            ON interactions (tenant, user, client_id) WHERE client_id IS NOT NULL;
        CREATE TABLE feedback (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            user TEXT NOT NULL,
            text TEXT NOT NULL,
            task TEXT,
            context TEXT,
            interaction_id TEXT REFERENCES interactions(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL
        );
        CREATE INDEX feedback_user ON feedback (tenant, user, created_at);
        CREATE TABLE preferences (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            user TEXT NOT NULL,
            text TEXT NOT NULL,
            source TEXT NOT NULL,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            task TEXT,
            scope TEXT NOT NULL CHECK (scope IN ('context', 'user')),
            operation TEXT,
            support INTEGER NOT NULL DEFAULT 1,
            disabled INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX preferences_key ON preferences (tenant, user, source, key);
        CREATE TABLE preference_evidence (
            preference_id TEXT NOT NULL REFERENCES preferences(id) ON DELETE CASCADE,
            tenant TEXT NOT NULL,
            user TEXT NOT NULL,
            item_type TEXT NOT NULL CHECK (item_type IN ('interaction', 'feedback')),
            item_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (preference_id, item_type, item_id)
        );
        CREATE INDEX preference_evidence_item
            ON preference_evidence (tenant, user, item_type, item_id);
        CREATE TABLE preference_versions (
            preference_id TEXT NOT NULL REFERENCES preferences(id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            text TEXT NOT NULL,
            disabled INTEGER NOT NULL,
            operation TEXT,
            replaced_at TEXT NOT NULL,
            PRIMARY KEY (preference_id, version)
        );
        -- One row per indexed item (an interaction's or a feedback's context).
        -- The integer id is the item's id inside the user's FAISS index.
        CREATE TABLE embeddings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tenant TEXT NOT NULL,
            user TEXT NOT NULL,
            item_type TEXT NOT NULL CHECK (item_type IN ('interaction', 'feedback')),
            item_id TEXT NOT NULL,
            task TEXT,
            model TEXT NOT NULL,
            dim INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            vector BLOB NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX embeddings_user ON embeddings (tenant, user, model);
        CREATE INDEX embeddings_item ON embeddings (item_type, item_id);
        CREATE INDEX embeddings_hash ON embeddings (tenant, user, content_hash);
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            user TEXT NOT NULL,
            kind TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('pending', 'running', 'done', 'error', 'cancelled')),
            progress REAL NOT NULL DEFAULT 0,
            params TEXT NOT NULL DEFAULT '{}',
            result TEXT,
            error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX jobs_user ON jobs (tenant, user, created_at);
        CREATE INDEX jobs_state ON jobs (state, created_at);
        """,
    )


@MIGRATIONS(name="0002_rule_status_and_evidence_detail")
def rule_status(db: sqlite_utils.Database) -> None:
    _execute_all(
        db,
        """
        ALTER TABLE preferences ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
            CHECK (status IN ('active', 'retired'));
        ALTER TABLE preferences ADD COLUMN stats TEXT;
        ALTER TABLE preference_evidence ADD COLUMN detail TEXT;
        """,
    )


@MIGRATIONS(name="0003_durable_jobs_and_inference_status")
def durable_jobs(db: sqlite_utils.Database) -> None:
    # Jobs become a durable queue (attempts, earliest next run, the item they
    # work on); interactions show the state of their background LLM inference.
    _execute_all(
        db,
        """
        ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN run_after TEXT;
        ALTER TABLE jobs ADD COLUMN item_id TEXT;
        CREATE INDEX jobs_item ON jobs (item_id);
        CREATE INDEX jobs_queue ON jobs (kind, state, run_after);
        ALTER TABLE interactions ADD COLUMN inference TEXT
            CHECK (inference IN ('pending', 'done', 'error'));
        ALTER TABLE interactions ADD COLUMN inference_error TEXT;
        """,
    )


@MIGRATIONS(name="0004_preference_pairs")
def preference_pairs(db: sqlite_utils.Database) -> None:
    # Explicit pairwise preferences (ICAI's input): sent one by one or imported
    # from CSV. Pairs derived from edits are not stored: they are the interactions.
    _execute_all(
        db,
        """
        CREATE TABLE pairs (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            user TEXT NOT NULL,
            context TEXT,
            a TEXT NOT NULL,
            b TEXT NOT NULL,
            preferred TEXT NOT NULL CHECK (preferred IN ('a', 'b')),
            client_id TEXT,
            origin TEXT NOT NULL DEFAULT 'api',
            created_at TEXT NOT NULL
        );
        CREATE INDEX pairs_user ON pairs (tenant, user, created_at);
        CREATE UNIQUE INDEX pairs_client_id
            ON pairs (tenant, user, client_id) WHERE client_id IS NOT NULL;
        """,
    )


@MIGRATIONS(name="0005_adapters")
def adapters(db: sqlite_utils.Database) -> None:
    # Per-user LoRA adapters (C3PO). The files live under the data directory
    # (adapters/<tenant>/<user>/<id>/); the row is written with them, last.
    _execute_all(
        db,
        """
        CREATE TABLE adapters (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            user TEXT NOT NULL,
            job_id TEXT,
            base_model TEXT NOT NULL,
            feedback TEXT NOT NULL,
            params TEXT NOT NULL,
            counts TEXT NOT NULL,
            metrics TEXT NOT NULL,
            path TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX adapters_user ON adapters (tenant, user, created_at);
        """,
    )


@MIGRATIONS(name="0006_interaction_learning_state")
def interaction_learning_state(db: sqlite_utils.Database) -> None:
    # The offline learners' work on an interaction: NULL = learned in the request that
    # logged it; 'deferred' = too big for the request's budget (or its tenant's learner
    # slots were busy), queued as a 'learn' job; then 'done' or 'error'.
    _execute_all(
        db,
        """
        ALTER TABLE interactions ADD COLUMN learning TEXT
            CHECK (learning IN ('deferred', 'done', 'error'));
        """,
    )


@MIGRATIONS(name="0008_user_scoped_keys")
def user_scoped_keys(db: sqlite_utils.Database) -> None:
    # A key may be scoped to one user of its tenant (NULL = a tenant key, as before):
    # such a key reaches only that user's routes (service.deps.require_user_access).
    _execute_all(
        db,
        """
        ALTER TABLE api_keys ADD COLUMN "user" TEXT;
        """,
    )


@MIGRATIONS(name="0010_feedback_scopes")
def feedback_scopes(db: sqlite_utils.Database) -> None:
    # Where a feedback preference applies (issue 13): its scope clause and that clause's
    # embedding. Derived rows, filled on first use (so existing feedback is migrated
    # lazily, with the embedding model the server runs).
    _execute_all(
        db,
        """
        CREATE TABLE feedback_scopes (
            preference_id TEXT PRIMARY KEY REFERENCES preferences(id) ON DELETE CASCADE,
            tenant TEXT NOT NULL,
            "user" TEXT NOT NULL,
            scope TEXT,
            origin TEXT NOT NULL
                CHECK (origin IN ('clause', 'context', 'llm', 'user', 'none')),
            model TEXT,
            vector BLOB,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX feedback_scopes_user ON feedback_scopes (tenant, "user");
        """,
    )

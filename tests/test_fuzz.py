"""Property-based fuzzing of the HTTP API from its own OpenAPI document (Schemathesis).

A live ``tailor serve`` answers requests generated from ``/openapi.json`` for every
operation: valid ones and, in Schemathesis' negative mode, invalid ones (wrong types,
out-of-range numbers, bad ids). Three properties must hold:

1. **No 5xx**, except a documented 503 (``/generate`` and ``method: llm`` without an LLM
   configured, which is the truth on this server).
2. **Responses match the schema**: each status is documented for its operation, and the
   body and content type are the documented ones (the error schema included).
3. **A failed request stores nothing**: afterwards, every record any fuzzed user's export
   holds (interactions, feedback, pairs, jobs, adapters and the embeddings of items) was
   created by a request that answered 2xx, and every export still answers 200.

Bounded (``MAX_EXAMPLES`` per operation and generation mode) to about a minute on two
cores, so it runs in CI among the slow tests. On a failure, Schemathesis prints the
request as a curl command.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import bearer
from tests.live import Server

TENANT = "fuzz"
#: examples per operation and generation mode: about a minute for the whole API on 2 cores
MAX_EXAMPLES = 25
#: export records that only a request creates (preferences are learned and versioned)
CREATED = {"interaction", "feedback", "pair", "job", "adapter"}
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class Run:
    """What the fuzz run sent and got."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.headers = url, bearer(key)
        self.users: set[str] = set()
        self.created: set[str] = set()  # ids that 2xx answers returned
        self.failures: dict[str, str] = {}  # one per (operation, kind), with a curl
        self.calls = 0

    def call(self, case: Any) -> None:
        response = case.call(base_url=self.url, headers=self.headers, timeout=60)
        self.calls += 1
        user = (case.path_parameters or {}).get("user")
        if isinstance(user, str):
            self.users.add(user)
        status = response.status_code
        if 200 <= status < 300:
            body = _json(response)
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                self.created.add(body["id"])
        label = case.operation.label
        curl = case.as_curl_command(headers={"Authorization": "Bearer KEY"})
        if status >= 500 and not (status == 503 and _documents(case, 503)):
            self.failures.setdefault(f"{label}: {status}", f"{response.text[:300]}\n    {curl}")
        try:
            case.validate_response(response, checks=CHECKS, headers=self.headers)
        except BaseException as failed:  # Schemathesis' FailureGroup is a BaseExceptionGroup
            titles = sorted(
                {str(getattr(f, "title", f)) for f in getattr(failed, "exceptions", [])}
            )
            self.failures.setdefault(
                f"{label}: {status} {'; '.join(titles) or type(failed).__name__}",
                f"{response.text[:300]}\n    {curl}",
            )


def _documents(case: Any, status: int) -> bool:
    return str(status) in case.operation.definition.raw.get("responses", {})


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def fuzz(run: Run, schema: Any) -> None:
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                # No shrinking (each step is a request); the failure's curl is the repro.
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                database=None,  # no example database left in the work tree
            )
            def one(case: Any) -> None:
                run.call(case)

            with contextlib.suppress(Unsatisfiable):  # GET /healthz has nothing to make invalid
                one()


def strays(run: Run) -> list[tuple[str, str, str]]:
    """Records in the fuzzed users' exports that no 2xx answer created."""
    found = []
    for user in sorted(run.users):
        response = httpx.get(
            f"{run.url}/v1/users/{quote(user, safe='')}/export", headers=run.headers, timeout=60
        )
        if response.status_code in (400, 422):  # not a valid user id: nothing can be stored
            continue
        if response.status_code != 200:
            run.failures.setdefault(f"export of {user!r}: {response.status_code}", response.text)
            continue
        # NDJSON lines end at "\n" only: str.splitlines() would also split at U+2028, U+0085...
        for line in filter(None, response.text.split("\n")):
            record = json.loads(line)
            kind = record["type"]
            if kind == "feedback" and record.get("interaction_id") in run.created:
                # The feedback field of an interaction that was answered 2xx.
                run.created.add(record["id"])
            ids = [record.get("id")] if kind in CREATED else []
            if kind == "embedding":
                ids = [record.get("item_id")]
            found += [(user, kind, i) for i in ids if i not in run.created]
    return found


@pytest.mark.slow  # about a minute
def test_fuzzed_requests_keep_the_contract(live_server: Server) -> None:
    run = Run(live_server.url, live_server.key_for(TENANT))
    document = httpx.get(f"{live_server.url}/openapi.json", timeout=30).json()
    started = time.monotonic()
    fuzz(run, schemathesis.openapi.from_dict(document))
    stored = strays(run)
    elapsed = time.monotonic() - started
    report = "\n".join(f"- {k}\n    {v}" for k, v in sorted(run.failures.items()))
    assert not run.failures, (
        f"{len(run.failures)} contract failures in {run.calls} calls:\n{report}"
    )
    assert stored == [], f"stored by requests that failed: {stored[:20]}"
    assert run.calls > 500 and run.created, (run.calls, elapsed)  # it really ran

"""The packaged embedding model and the content-hash cache in front of it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient

from learners.backends.embeddings import DEFAULT_MODEL_NAME, SentenceTransformerEmbedder
from tests.conftest import bearer

CONTEXT = "Reply to the landlord about the broken heating in the flat"


def test_packaged_model_gives_unit_vectors_that_rank_by_meaning(
    embedder: SentenceTransformerEmbedder,
) -> None:
    assert embedder.model_name == DEFAULT_MODEL_NAME and embedder.dim == 384
    vectors = embedder.embed(
        [CONTEXT, "Email my landlord that the radiator is not working", "A haiku about tea"]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_long_contexts_are_truncated_not_rejected(embedder: SentenceTransformerEmbedder) -> None:
    long = CONTEXT + " and more detail" * 20_000
    [vector] = embedder.embed([long])
    [prefix] = embedder.embed([long[: embedder.max_chars]])
    assert np.allclose(vector, prefix, atol=1e-6)


def test_a_context_is_embedded_once(app: FastAPI, key: str) -> None:
    with TestClient(app, headers=bearer(key)) as client:
        cache = app.state.engine.embedder
        client.post("/v1/users/dana/policy", json={"context": CONTEXT})
        client.post(
            "/v1/users/dana/interactions", json={"context": CONTEXT, "draft": "a", "final": "b"}
        )
        client.post("/v1/users/dana/policy", json={"context": CONTEXT})
        assert (cache.misses, cache.hits) == (1, 2)


def test_stored_vectors_are_reused_after_a_restart(
    make_app: Callable[..., FastAPI], key: str
) -> None:
    body = {"context": CONTEXT, "draft": "a", "final": "b", "feedback": "be polite"}
    with TestClient(make_app(), headers=bearer(key)) as client:
        client.post("/v1/users/dana/interactions", json=body)
    restarted = make_app()
    with TestClient(restarted, headers=bearer(key)) as client:
        policy = client.post("/v1/users/dana/policy", json={"context": CONTEXT}).json()
        assert policy["preferences"][0]["score"] > 0.999
        assert restarted.state.engine.embedder.misses == 0


def test_concurrent_requests_share_model_batches(embedder: SentenceTransformerEmbedder) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from learners.backends.embeddings import BatchingEmbedder

    texts = [f"Email number {i} to the team about the launch" for i in range(24)]
    expected = embedder.embed(texts)
    batching = BatchingEmbedder(embedder)
    batching.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(lambda t: batching.embed([t])[0], texts))
    finally:
        batching.close()
    assert np.allclose(np.stack(got), expected, atol=1e-5)
    assert batching.batches < len(texts)


def test_model_errors_reach_the_caller(embedder: SentenceTransformerEmbedder) -> None:
    import pytest

    from learners.backends.embeddings import BatchingEmbedder

    batching = BatchingEmbedder(embedder)
    batching.start()
    try:
        with pytest.raises(TypeError):
            batching.embed([None])  # type: ignore[list-item]
        # The worker survives a failed batch.
        assert batching.embed(["still working"]).shape == (1, embedder.dim)
    finally:
        batching.close()

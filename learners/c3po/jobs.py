"""C3PO adapters as background jobs: from a user's feedback and edits to a stored adapter.

Stephan et al., "RLVF: Learning from Verbal Feedback without
Overgeneralization" (ICML 2024, arXiv 2402.10893). ``learners.c3po.dataset`` builds the
in-, near- and out-of-scope sets from the user's own logged contexts,
``learners.c3po.train`` trains and evaluates the LoRA adapter, and this module
runs that as a durable job (``learners.jobs.worker``): the request is checked up
front (the data set is built from stored embeddings, no model needed, so "too
little in-scope data" is a 400 before any job exists), progress is reported per
step, a cancel or a shutdown stops training at the next step (a shutdown puts
the job back in the queue), and the adapter's files and row are stored together.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, model_validator

from learners.backends.embeddings import Embedder
from learners.c3po.adapters import SMOLLM2_ID
from learners.c3po.dataset import C3PODataset, UserItem, build_dataset, load_general_prompts
from learners.c3po.options import NEAR_THRESHOLD, AdapterOptions
from learners.jobs.worker import JobControl
from learners.style.scope import derive
from store.adapters import TMP_PREFIX, Adapter, insert_adapter, user_dir
from store.db import Store
from store.errors import InvalidInputError
from store.interactions import get_feedback, interactions_with_vectors
from store.preferences import get_preferences
from store.records import Job, new_id, now
from store.scopes import scopes_of

ADAPTER_JOB = "adapter"
#: the most recent interactions considered for the data set
MAX_ITEMS = 2000
DEFAULT_BASE = "SmolLM2-135M-Instruct"

#: an id the store made (``store.records.new_id``) or any id of that alphabet
StoredId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class AdapterRequest(AdapterOptions):
    """What ``POST .../adapters`` accepts (stored as the job's params): what to train on,
    plus the options of ``learners.c3po.options.AdapterOptions``."""

    feedback_id: StoredId | None = Field(
        None, description="Train on this piece of verbal feedback."
    )
    preference_ids: list[StoredId] | None = Field(
        None, min_length=1, max_length=20, description="Or on these learned preferences."
    )

    @model_validator(mode="after")
    def _one_source(self) -> AdapterRequest:
        if (self.feedback_id is None) == (self.preference_ids is None):
            raise ValueError("give exactly one of feedback_id and preference_ids")
        return self


@dataclass(frozen=True)
class Plan:
    feedback: str
    dataset: C3PODataset


def general_prompts(embedder: Embedder) -> tuple[list[str], np.ndarray]:
    """The packaged general prompts and their vectors (embedded once per model)."""
    cached = _GENERAL.get(embedder.model_name)
    if cached is None:
        prompts = load_general_prompts()
        cached = _GENERAL[embedder.model_name] = (prompts, embedder.embed(prompts))
    return cached


#: model name -> the general prompts and their vectors (the prompts are packaged data)
_GENERAL: dict[str, tuple[list[str], np.ndarray]] = {}


def plan(
    store: Store, embedder: Embedder, job_tenant: str, user: str, request: AdapterRequest
) -> Plan:
    """The feedback text and the C3PO data set; ``not_enough_data`` when it is too thin."""
    if request.feedback_id is not None:
        feedback = get_feedback(store, job_tenant, user, request.feedback_id)
        text = feedback.text
        scopes = [derive(text, feedback.context)[0]]
    else:
        prefs = get_preferences(store, job_tenant, user, request.preference_ids or [])
        missing = set(request.preference_ids or []) - {p.id for p in prefs}
        if missing:
            raise InvalidInputError(
                f"no preferences {sorted(missing)} for this user", code="preference_not_found"
            )
        text = "; ".join(p.text for p in prefs)
        stored = scopes_of(store, job_tenant, user, [p.id for p in prefs])
        scopes = [
            s.scope if (s := stored.get(p.id)) is not None else derive(p.text, None)[0]
            for p in prefs
        ]
    rows = interactions_with_vectors(store, job_tenant, user, embedder.model_name, limit=MAX_ITEMS)
    items = [
        UserItem(i.context, i.draft, i.final, np.frombuffer(vector, dtype=np.float32))
        for i, vector in rows
    ]
    # In-scope data is picked by the feedback's scope (where it applies, as the policy
    # matches it: learners.core.scopes), not by the instruction's own words.
    named = [s for s in scopes if s]
    if named:
        vectors = embedder.embed(named)
        mean = vectors.mean(axis=0)
        feedback_vector = mean / max(float(np.linalg.norm(mean)), 1e-12)
    else:
        feedback_vector = embedder.embed([text])[0]
    prompts, vectors = general_prompts(embedder)
    dataset = build_dataset(
        text,
        feedback_vector,
        items,
        threshold=request.threshold,
        near_threshold=min(NEAR_THRESHOLD, request.threshold),
        general_prompts=prompts,
        general_vectors=vectors,
        seed=request.seed,
    )
    return Plan(text, dataset)


def resolve_base(models_dir: Path, name: str | None) -> Path:
    """The base model folder: inside ``models_dir`` only (requests cannot name any path)."""
    from learners.c3po.adapters import ensure_base_model

    if name is None:
        return ensure_base_model(models_dir)
    root = models_dir.resolve()
    path = (root / name).resolve()
    if root not in path.parents or not (path / "config.json").is_file():
        raise InvalidInputError(
            # The models directory is the operator's business: never show a server path.
            f"base_model {name!r} is not a model folder inside the models directory "
            "(TAILOR_MODELS_DIR)",
            code="invalid_base_model",
        )
    return path


@dataclass
class Trained:
    tmp_dir: Path
    base_model: str
    feedback: str
    counts: dict[str, int]
    metrics: dict[str, Any]


class AdapterHandler:
    def __init__(self, store: Store, embedder: Embedder, models_dir: Path) -> None:
        self.store, self.embedder, self.models_dir = store, embedder, models_dir

    def run(self, job: Job, control: JobControl) -> Trained:
        from learners.c3po import adapters
        from learners.c3po import train as tr
        from learners.c3po.dataset import split_held_out

        request = AdapterRequest.model_validate(job.params)
        planned = plan(self.store, self.embedder, job.tenant, job.user, request)
        base = resolve_base(self.models_dir, request.base_model)
        control.check()
        options = tr.TrainOptions(**request.training())
        model, tokenizer = adapters.load_base(base, device=options.device)
        train_pairs, held_out = split_held_out(planned.dataset.in_scope, seed=request.seed)

        def progress(step: dict[str, float]) -> None:
            fraction = 0.05 + 0.9 * step["step"] / options.steps
            control.progress(fraction, {"stage": "training", **step})

        try:
            filled = tr.fill_targets(
                model, tokenizer, planned.dataset, options, should_stop=control.should_stop
            )
            # Drift is measured on out-of-scope prompts the adapter never trained on.
            out_train, out_held = split_held_out(filled.out_scope, seed=request.seed)
            dataset = C3PODataset(planned.feedback, train_pairs, filled.near_scope, out_train)
            control.progress(0.05, {"stage": "training", "counts": planned.dataset.counts()})
            result = tr.train(
                model, tokenizer, dataset, options, progress, should_stop=control.should_stop
            )
        except tr.TrainingCancelled:
            control.check()  # raises JobInterrupted or JobCancelled
            raise
        metrics = tr.evaluate(result.model, tokenizer, held_out, out_held, options)
        counts = planned.dataset.counts() | {
            "held_out": len(held_out),
            "train": len(train_pairs),
            "out_scope_held_out": len(out_held),
        }
        # The exported config names a base model users can fetch, never a server path.
        base_name = SMOLLM2_ID if request.base_model is None else request.base_model
        folder = user_dir(self.store, job.tenant, job.user)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=folder))
        try:
            adapters.save_adapter(result.model, tmp, base_model=base_name)
            card = adapters.model_card(
                {
                    "base_model": base_name,
                    "feedback": planned.feedback,
                    "counts": counts,
                    "metrics": metrics,
                    "options": options.model_dump(),
                    "seconds": round(result.seconds, 1),
                }
            )
            (tmp / "README.md").write_text(card, encoding="utf-8")
            (tmp / "history.json").write_text(json.dumps(result.history), encoding="utf-8")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Trained(tmp, base_name, planned.feedback, counts, metrics)

    def commit(self, db: Any, job: Job, outcome: Trained) -> dict[str, Any]:
        adapter_id = new_id("adp")
        final = outcome.tmp_dir.parent / adapter_id
        adapter = Adapter(
            id=adapter_id,
            tenant=job.tenant,
            user=job.user,
            job_id=job.id,
            base_model=outcome.base_model,
            feedback=outcome.feedback,
            params=job.params,
            counts=outcome.counts,
            metrics=outcome.metrics,
            path=str(final.relative_to(self.store.data_dir)),
            created_at=now(),
        )
        insert_adapter(db, adapter)
        # Last in the transaction: if the rename fails, the row is rolled back too.
        outcome.tmp_dir.rename(final)
        return {"adapter_id": adapter_id, "counts": outcome.counts, "metrics": outcome.metrics}

    def failed(self, db: Any, job: Job, error: str, final: bool) -> None:
        return None

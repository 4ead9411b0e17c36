"""``tailor adapters ...``: train, list and export per-user C3PO LoRA adapters.

Split from ``service.cli`` (one module per command family); the options of ``train``
are built from ``learners.c3po.options.AdapterOptions`` on first use, so importing the
CLI does not import pydantic models or torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from service.cli_common import check_id as _id
from service.cli_common import data_dir_of as _data_dir
from service.cli_common import data_dir_option


@click.group()
def adapters() -> None:
    """Per-user C3PO LoRA adapters: train, list, export."""


def _adapter_options() -> Any:
    from learners.c3po.options import AdapterOptions

    return AdapterOptions


def _model_options(model: Any) -> list[click.Option]:
    """One click option per field of the pydantic ``model``: its name, type and bounds,
    default and description (so the model stays the only declaration)."""
    import annotated_types as at

    options = []
    for name, field in model.model_fields.items():
        bounds: dict[str, Any] = {}
        text = field.annotation in (str, str | None)
        for rule in field.metadata:
            if text and (isinstance(rule, at.MinLen | at.MaxLen) or hasattr(rule, "pattern")):
                # Checked when the command builds the model from the options.
                continue
            if isinstance(rule, at.Ge | at.Gt):
                bounds["min"] = rule.ge if isinstance(rule, at.Ge) else rule.gt
                bounds["min_open"] = isinstance(rule, at.Gt)
            elif isinstance(rule, at.Le | at.Lt):
                bounds["max"] = rule.le if isinstance(rule, at.Le) else rule.lt
                bounds["max_open"] = isinstance(rule, at.Lt)
            else:
                raise TypeError(f"{model.__name__}.{name}: no CLI form for {rule!r}")
        kind: click.ParamType[Any]
        if field.annotation is int:
            kind = click.IntRange(**bounds) if bounds else click.INT
        elif field.annotation is float:
            kind = click.FloatRange(**bounds) if bounds else click.FLOAT
        elif field.annotation in (str, str | None) and not bounds:
            kind = click.STRING
        else:
            raise TypeError(f"{model.__name__}.{name}: no CLI form for {field.annotation}")
        options.append(
            click.Option(
                [f"--{name.replace('_', '-')}"],
                type=kind,
                default=field.default,
                show_default=field.default is not None,
                help=field.description,
            )
        )
    return options


class _ModelOptionsCommand(click.Command):
    """A command that also takes one option per field of a pydantic model, added on first
    use (parsing, --help) so that importing the CLI does not import pydantic."""

    def __init__(self, *args: Any, model: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._model, self._added = model, False

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not self._added:
            self._added = True
            names = [p.name for p in self.params]
            at = names.index("data_dir") if "data_dir" in names else len(names)
            self.params[at:at] = _model_options(self._model())
        return super().get_params(ctx)


@adapters.command("train", cls=_ModelOptionsCommand, model=_adapter_options)
@click.option("--user", required=True, callback=_id)
@click.option("--tenant", default="default", show_default=True, callback=_id)
@click.option("--feedback-id", default=None, help="Train on this verbal feedback.")
@click.option("--preference-id", "preference_ids", multiple=True, help="Or on preferences.")
@data_dir_option
def adapters_train(
    user: str,
    tenant: str,
    feedback_id: str | None,
    preference_ids: tuple[str, ...],
    data_dir: Path | None,
    **options: Any,
) -> None:
    """Train an adapter now, in this process (the server does the same as a job)."""
    from learners.backends.embeddings import SentenceTransformerEmbedder
    from learners.c3po.jobs import ADAPTER_JOB, AdapterHandler, AdapterRequest, plan
    from learners.jobs.worker import JobWorker
    from service.settings import Settings
    from store.db import Store
    from store.jobs import claim, enqueue, get_job

    overrides: dict[str, Any] = {} if data_dir is None else {"data_dir": data_dir}
    settings = Settings(**overrides)
    # The other options are AdapterOptions' fields (_model_options), validated here again.
    from pydantic import ValidationError

    try:
        request = AdapterRequest(
            feedback_id=feedback_id, preference_ids=list(preference_ids) or None, **options
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise click.ClickException(f"invalid options: {problems}") from exc
    embedder = SentenceTransformerEmbedder(settings.embedding_model or None)
    store = Store.open(settings.data_dir)
    try:
        counts = plan(store, embedder, tenant, user, request).dataset.counts()
        click.echo(f"data: {counts}", err=True)
        with store.transaction() as db:
            job = enqueue(
                db, tenant=tenant, user=user, kind=ADAPTER_JOB, params=request.model_dump()
            )
        handler = AdapterHandler(store, embedder, settings.models_path)
        worker = JobWorker(store, {ADAPTER_JOB: handler}, name="cli", max_attempts=1)
        claimed = claim(store, [ADAPTER_JOB])
        while claimed is not None and claimed.id != job.id:  # another pending job first
            worker.run_one(claimed)
            claimed = claim(store, [ADAPTER_JOB])
        if claimed is not None:
            worker.run_one(claimed)
        done = get_job(store, tenant, job.id)
    finally:
        store.close()
    if done.state != "done" or done.result is None:
        raise click.ClickException(f"training failed: {done.error}")
    click.echo(done.result["adapter_id"])
    click.echo(f"metrics: {done.result['metrics']}", err=True)


@adapters.command("list")
@click.option("--user", required=True, callback=_id)
@click.option("--tenant", default="default", show_default=True, callback=_id)
@data_dir_option
def adapters_list(user: str, tenant: str, data_dir: Path | None) -> None:
    """The user's adapters, newest first: id, created, feedback, in-scope accuracy, drift."""
    from store.adapters import list_adapters
    from store.db import Store

    store = Store.open(_data_dir(data_dir))
    try:
        found = list_adapters(store, tenant, user)
    finally:
        store.close()
    for a in found:
        accuracy = a.metrics.get("reward_accuracy")
        drift = a.metrics.get("out_scope_kl")
        click.echo(f"{a.id}\t{a.created_at}\taccuracy={accuracy}\tkl={drift}\t{a.feedback[:60]}")


@adapters.command("export")
@click.argument("adapter_id")
@click.option("--user", required=True, callback=_id)
@click.option("--tenant", default="default", show_default=True, callback=_id)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@data_dir_option
def adapters_export(
    adapter_id: str, user: str, tenant: str, out: Path, data_dir: Path | None
) -> None:
    """Write the adapter as a tar.gz (adapter_config.json, adapter_model.safetensors, README)."""
    from learners.c3po.adapters import write_archive
    from store.adapters import adapter_path, get_adapter
    from store.db import Store

    store = Store.open(_data_dir(data_dir))
    try:
        folder = adapter_path(store, get_adapter(store, tenant, user, adapter_id))
    finally:
        store.close()
    write_archive(folder, (folder / "README.md").read_text(encoding="utf-8"), out)
    click.echo(str(out), err=True)

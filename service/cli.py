"""The ``tailor`` command line.

Only click and the store are imported at module level, so ``tailor --help``
and ``tailor keys ...`` answer in well under a second; ``serve`` imports the
web stack and the embedding model when it runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from store.db import default_data_dir
from store.errors import TailorError


def _data_dir(value: Path | None) -> Path:
    if value is not None:
        return value.expanduser().resolve()
    env = os.environ.get("TAILOR_DATA_DIR")
    return Path(env).expanduser().resolve() if env else default_data_dir()


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default: $TAILOR_DATA_DIR, else ~/.local/share/tailor).",
)


class _Group(click.Group):
    """Turns Tailor's domain errors into clean CLI errors (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TailorError as exc:
            raise click.ClickException(exc.message) from exc


@click.group(cls=_Group)
@click.version_option(package_name="tailor", prog_name="tailor")  # read when asked
def cli() -> None:
    """Tailor: learn each user's writing preferences from their edits and feedback."""


@cli.command()
@click.option("--host", default=None, help="Bind address (default 127.0.0.1; $TAILOR_HOST).")
@click.option(
    "--port", type=int, default=None, help="Port (default 8000; 0: any free port; $TAILOR_PORT)."
)
@data_dir_option
def serve(host: str | None, port: int | None, data_dir: Path | None) -> None:
    """Run the HTTP API. On a fresh data directory, create and print a key for 'default'.

    Once it accepts requests it prints ``tailor listening on http://HOST:PORT``
    (the port it got, with ``--port 0``).
    """
    import contextlib
    import socket

    import uvicorn
    from pydantic import ValidationError

    from service.app import create_app
    from service.settings import Settings
    from store.db import Store
    from store.keys import create_key, has_keys

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise click.ClickException(f"invalid settings:\n{exc}") from exc
    store = Store.open(settings.data_dir, synchronous=settings.sqlite_synchronous)
    try:
        if not has_keys(store):
            _, secret = create_key(store, "default")
            click.echo(
                f"Created an API key for tenant 'default'. It is shown only this once:\n{secret}"
            )
    finally:
        store.close()
    click.echo(f"Data directory: {settings.data_dir}", err=True)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
    )
    # The socket is bound here, before start-up, so that with port 0 the one port the
    # kernel picked is the port served and printed (no bind-close-rebind race).
    sock = config.bind_socket()
    host, bound_port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{bound_port}"

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                click.echo(f"tailor listening on {url}")

    server = _Server(config)
    # Ctrl+C: uvicorn shuts down, then raises KeyboardInterrupt again (as uvicorn.run, quiet).
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE, as uvicorn.run


@cli.group()
def keys() -> None:
    """Create, list and revoke API keys (one tenant per key)."""


def _open(data_dir: Path | None) -> Any:
    from store.db import Store

    return Store.open(_data_dir(data_dir))


@keys.command("create")
@click.option("--tenant", required=True, help="Tenant the key belongs to (created if new).")
@data_dir_option
def keys_create(tenant: str, data_dir: Path | None) -> None:
    """Create a key and print it (only the key, once: it is stored hashed)."""
    from store.keys import create_key

    store = _open(data_dir)
    try:
        _, secret = create_key(store, tenant)
    finally:
        store.close()
    click.echo(secret)


@keys.command("list")
@click.option("--tenant", default=None, help="Only this tenant's keys.")
@data_dir_option
def keys_list(tenant: str | None, data_dir: Path | None) -> None:
    """List keys by id and prefix; secrets are never shown."""
    from store.keys import list_keys

    store = _open(data_dir)
    try:
        rows = list_keys(store, tenant)
    finally:
        store.close()
    if not rows:
        click.echo("no keys", err=True)
        return
    click.echo(f"{'id':<30} {'tenant':<20} {'prefix':<12} {'created':<28} status")
    for k in rows:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        click.echo(f"{k.id:<30} {k.tenant:<20} {k.prefix + '…':<12} {k.created_at:<28} {state}")


@keys.command("revoke")
@click.argument("key_id")
@data_dir_option
def keys_revoke(key_id: str, data_dir: Path | None) -> None:
    """Revoke a key by its id (from `tailor keys list`); it stops working at once."""
    from store.keys import revoke_key

    store = _open(data_dir)
    try:
        key = revoke_key(store, key_id)
    finally:
        store.close()
    click.echo(f"revoked {key.id} (tenant {key.tenant})", err=True)


@cli.group()
def replay() -> None:
    """Offline PRELUDE simulation and replay of exported interactions."""


@replay.command("simulate")
@click.option(
    "--task",
    "tasks",
    multiple=True,
    type=click.Choice(["summarization", "email"]),
    help="Task to simulate (repeat for both; default both).",
)
@click.option(
    "--learners",
    default=None,
    help="Comma-separated agents: none, oracle, icl-edit, continual, explore-exploit, tailor, "
    "or learner names joined by '+' (default: all of the first six).",
)
@click.option(
    "--user",
    "user_engine",
    type=click.Choice(["rule", "llm"]),
    default="rule",
    show_default=True,
    help="Simulated user engine.",
)
@click.option(
    "--drafter",
    type=click.Choice(["extractive", "llm"]),
    default=None,
    help="Base drafter: extractive (offline) or the configured LLM "
    "(default: llm with --user llm, else extractive).",
)
@click.option("--rounds", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--seeds", type=click.IntRange(1, 100), default=3, show_default=True)
@click.option(
    "--corpus",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSONL of {source, text[, task, id]} instead of the packaged corpus.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for results.csv, results.md and the plots.",
)
@click.option("--url", default=None, help="Run Tailor's agents on this running server, over HTTP.")
@click.option("--key", default=None, envvar="TAILOR_KEY", help="API key for --url.")
def replay_simulate(
    tasks: tuple[str, ...],
    learners: str | None,
    user_engine: str,
    drafter: str | None,
    rounds: int,
    seeds: int,
    corpus: Path | None,
    out: Path,
    url: str | None,
    key: str | None,
) -> None:
    """Run the PRELUDE protocol with simulated users and compare learners.

    ``--user llm``, ``--drafter llm`` and the ``cipher-1`` / ``cipher-5``
    learners use the LLM configured by ``TAILOR_LLM_MODEL`` (and
    ``TAILOR_LLM_API_BASE``, ``TAILOR_LLM_API_KEY``), at temperature 0.
    """
    from tqdm import tqdm

    from learners.backends.embeddings import SentenceTransformerEmbedder
    from replay.agents import BASELINES, DEFAULT_AGENTS
    from replay.corpus import load
    from replay.simulate import markdown, simulate, users_label, write_reports

    if url is not None and not key:
        raise click.ClickException("--url needs --key (or TAILOR_KEY)")
    from service.settings import Settings

    drafter = drafter or ("llm" if user_engine == "llm" else "extractive")
    settings = Settings()
    llm = settings.build_llm()
    if llm is None and (user_engine == "llm" or drafter == "llm"):
        raise click.ClickException(
            "the llm user engine and the llm drafter need an LLM: set TAILOR_LLM_MODEL "
            "(and TAILOR_LLM_API_BASE / TAILOR_LLM_API_KEY as needed)"
        )
    chosen_tasks = list(tasks) or ["summarization", "email"]
    agents = [a.strip() for a in (learners or ",".join(DEFAULT_AGENTS)).split(",") if a.strip()]
    docs = load(corpus, task=chosen_tasks[0] if len(chosen_tasks) == 1 else None)
    # Only icl-edit and in-process Tailor agents embed contexts.
    local = [a for a in agents if a == "icl-edit" or (a not in BASELINES and url is None)]
    if user_engine == "llm":
        local.append("preference accuracy")  # LLM users: nearest latent by embedding
    embedder = None
    if local:
        click.echo("loading the embedding model...", err=True)
        embedder = SentenceTransformerEmbedder()
    total = len(chosen_tasks) * len(agents) * seeds * rounds
    with tqdm(total=total, unit="round", disable=None, file=sys.stderr) as bar:
        runs = simulate(
            docs,
            tasks=chosen_tasks,
            agents=agents,
            rounds=rounds,
            seeds=seeds,
            embedder=embedder,
            progress=bar.update,
            server=(url, key) if url is not None and key else None,
            llm=llm,
            user_engine=user_engine,
            drafter=drafter,
        )
    written = write_reports(runs, out, user_engine)
    click.echo(markdown(runs, users_label(user_engine)))
    click.echo("wrote " + ", ".join(str(p) for p in written), err=True)


@replay.command("log")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--learners",
    default="feedback,edits,rules",
    show_default=True,
    help="Comma-separated learner names from the registry.",
)
@click.option("--per-round", is_flag=True, help="Print a line per interaction.")
def replay_log(file: Path, learners: str, per_round: bool) -> None:
    """Replay an export (NDJSON) through a learner: how much editing it would have saved."""
    from learners.backends.embeddings import SentenceTransformerEmbedder
    from replay.logreplay import replay_log as run
    from replay.logreplay import report

    names = [n.strip() for n in learners.split(",") if n.strip()]
    results = run(file, names, SentenceTransformerEmbedder())
    click.echo(report(results, per_round))


@cli.group()
def principles() -> None:
    """Pairwise preferences and ICAI constitutions."""


@principles.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--user", required=True, help="The user the pairs belong to.")
@click.option("--tenant", default="default", show_default=True)
@data_dir_option
def principles_import(file: Path, user: str, tenant: str, data_dir: Path | None) -> None:
    """Import pairs from ICAI's CSV (text_a, text_b, preferred_text[, input])."""
    from learners.icai.csvfile import read_icai_csv
    from store.db import Store
    from store.pairs import NewPair, add_pairs
    from store.records import USER_ID

    if not USER_ID.fullmatch(user):
        raise click.ClickException("user ids are 1 to 128 of A-Z, a-z, 0-9, '.', '_', '@', '-'")
    pairs = [NewPair(p.a, p.b, p.preferred, p.context) for p in read_icai_csv(file)]
    store = Store.open(_data_dir(data_dir))
    try:
        add_pairs(store, tenant, user, pairs, origin="csv")
    finally:
        store.close()
    click.echo(f"imported {len(pairs)} pairs for {tenant}/{user}", err=True)


@principles.command("eval")
@click.option("--pairs", "n_pairs", type=click.IntRange(10, 100_000), default=200)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--noise", type=click.FloatRange(0, 0.5), default=0.1, show_default=True)
@click.option("--llm", "use_llm", is_flag=True, help="Use the LLM of TAILOR_LLM_MODEL too.")
def principles_eval(n_pairs: int, seed: int, noise: float, use_llm: bool) -> None:
    """Recover planted principles from the synthetic orthogonal / aligned / unaligned sets."""
    from learners.backends.embeddings import SentenceTransformerEmbedder
    from replay.icai_eval import evaluation_table, format_table
    from service.settings import Settings

    llm = Settings().build_llm() if use_llm else None
    if use_llm and llm is None:
        raise click.ClickException("--llm needs TAILOR_LLM_MODEL")
    rows = evaluation_table(
        n_pairs, seed, embedder=SentenceTransformerEmbedder(), llm=llm, noise=noise
    )
    click.echo(format_table(rows))


@cli.group()
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
        for rule in field.metadata:
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
@click.option("--user", required=True)
@click.option("--tenant", default="default", show_default=True)
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
    request = AdapterRequest(
        feedback_id=feedback_id, preference_ids=list(preference_ids) or None, **options
    )
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
@click.option("--user", required=True)
@click.option("--tenant", default="default", show_default=True)
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
@click.option("--user", required=True)
@click.option("--tenant", default="default", show_default=True)
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

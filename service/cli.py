"""The ``tailor`` command line.

Only click and the store are imported at module level, so ``tailor --help``
and ``tailor keys ...`` answer in well under a second; ``serve`` imports the
web stack and the embedding model when it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from service.cli_adapters import adapters
from service.cli_common import check_id as _id
from service.cli_common import data_dir_of as _data_dir
from service.cli_common import data_dir_option
from service.cli_eval import eval_group
from store.errors import TailorError


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
    from service.errors import JSONErrorH11Protocol
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
        # h11 with Tailor's JSON error for requests it cannot parse (bad Content-Length).
        http=JSONErrorH11Protocol,
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
    """Create, list and revoke API keys (one tenant per key, optionally one user)."""


def _open(data_dir: Path | None) -> Any:
    from store.db import Store

    return Store.open(_data_dir(data_dir))


@keys.command("create")
@click.option(
    "--tenant", required=True, callback=_id, help="Tenant the key belongs to (created if new)."
)
@click.option(
    "--user",
    default=None,
    callback=_id,
    help="Scope the key to this one user of the tenant: it reaches only that user's "
    "routes (the key to hand to them, for /ui).",
)
@data_dir_option
def keys_create(tenant: str, user: str | None, data_dir: Path | None) -> None:
    """Create a key and print it (only the key, once: it is stored hashed)."""
    from store.keys import create_key

    store = _open(data_dir)
    try:
        _, secret = create_key(store, tenant, user)
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
    click.echo(f"{'id':<30} {'tenant':<20} {'user':<20} {'prefix':<12} {'created':<28} status")
    for k in rows:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        user = k.user if k.user is not None else "(all users)"
        click.echo(
            f"{k.id:<30} {k.tenant:<20} {user:<20} {k.prefix + '…':<12} {k.created_at:<28} {state}"
        )


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
@click.option(
    "--users",
    "population",
    type=click.Choice(["prelude", "zoo"]),
    default="prelude",
    show_default=True,
    help="PRELUDE's latent preferences per source, or the zoo (replay/zoo).",
)
@click.option("--zoo-user", "zoo_users", multiple=True, help="Only this zoo user (repeat).")
@click.option("--rounds", type=click.IntRange(1, 100_000), help="Default 200; zoo: 40.")
@click.option("--seeds", type=click.IntRange(1, 100), help="Default 3; zoo: 1.")
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
    population: str,
    zoo_users: tuple[str, ...],
    rounds: int | None,
    seeds: int | None,
    corpus: Path | None,
    out: Path,
    url: str | None,
    key: str | None,
) -> None:
    """Run the PRELUDE protocol with simulated users and compare learners.

    ``--user llm``, ``--drafter llm`` and the ``cipher-1`` / ``cipher-5``
    learners use the LLM configured by ``TAILOR_LLM_MODEL`` (and
    ``TAILOR_LLM_API_BASE``, ``TAILOR_LLM_API_KEY``), at temperature 0.
    ``--users zoo`` runs the zoo instead (learners ``none,tailor`` by default).
    """
    if url is not None and not key:
        raise click.ClickException("--url needs --key (or TAILOR_KEY)")
    if population == "zoo":
        if tasks or corpus is not None or user_engine != "rule" or drafter is not None:
            raise click.ClickException("--task, --corpus, --user, --drafter: --users prelude only")
        from replay.simulate import zoo_command

        server = (url, key) if url is not None and key else None
        zoo_command(list(zoo_users), learners, rounds or 40, seeds or 1, out, server, click.echo)
        return
    if zoo_users:
        raise click.ClickException("--zoo-user needs --users zoo")
    rounds, seeds = rounds or 200, seeds or 3
    from tqdm import tqdm

    from learners.backends.embeddings import SentenceTransformerEmbedder
    from replay.agents import BASELINES, DEFAULT_AGENTS
    from replay.corpus import load
    from replay.simulate import markdown, simulate, users_label, write_reports
    from replay.users import check_sources
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
    check_sources((d.task, d.source) for d in docs if d.task in chosen_tasks)
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
@click.option("--user", required=True, callback=_id, help="The user the pairs belong to.")
@click.option("--tenant", default="default", show_default=True, callback=_id)
@data_dir_option
def principles_import(file: Path, user: str, tenant: str, data_dir: Path | None) -> None:
    """Import pairs from ICAI's CSV (text_a, text_b, preferred_text[, input, id]).

    Importing a file again adds nothing (pairs are keyed by the file's ``id`` column, else
    by their content); ties and both-bad rows are skipped and counted.
    """
    from learners.icai.csvfile import read_icai_file
    from service.settings import Settings
    from store.db import Store
    from store.keys import tenant_exists
    from store.pairs import NewPair, add_pairs

    read = read_icai_file(file, max_chars=Settings().max_text_chars)
    pairs = [
        NewPair(p.a, p.b, p.preferred, p.context, client_id=f"csv:{key}")
        for p, key in zip(read.pairs, read.keys, strict=True)
    ]
    store = Store.open(_data_dir(data_dir))
    try:
        if not tenant_exists(store, tenant):
            # Pairs of a tenant no key can reach would be orphans nobody can see or delete.
            raise click.ClickException(
                f"no tenant {tenant!r}: create it with `tailor keys create --tenant {tenant}`"
            )
        added = add_pairs(store, tenant, user, pairs, origin="csv")
    finally:
        store.close()
    new = sum(is_new for _, is_new in added)
    click.echo(
        f"imported {new} pairs for {tenant}/{user}; {len(added) - new} duplicates "
        f"(already imported); {read.ties} ties or both-bad rows skipped",
        err=True,
    )


@principles.command("eval")
@click.option("--pairs", "n_pairs", type=click.IntRange(10, 100_000), default=200)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--noise", type=click.FloatRange(0, 0.5), default=0.1, show_default=True)
@click.option("--llm", "use_llm", is_flag=True, help="Use the LLM of TAILOR_LLM_MODEL too.")
def principles_eval(n_pairs: int, seed: int, noise: float, use_llm: bool) -> None:
    """Recover planted principles from the synthetic sets (style: orthogonal, aligned,
    unaligned; content: which animal, colour and flavour; random: nothing to find)."""
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


# The adapter commands live in their own module (one module per command family).
cli.add_command(adapters)
cli.add_command(eval_group)

"""The PRELUDE protocol, offline: rounds, simulated users, agents, metrics, reports.

Per round t (Gao et al., arXiv 2404.15269, section 2): a context x_t arrives
(a document of one source; sources split evenly, order shuffled by the seed),
the agent shows y_t, the simulated user edits it to y'_t (or accepts), the
cost is the word-token Levenshtein distance between y_t and y'_t, and the
agent learns. Reported per task, agent and seed: cumulative cost, acceptance
rate, preference accuracy (F1 of the operations the agent applied against the
user's latent operations, averaged over rounds; with LLM users, whether the
nearest latent preference to the agent's is the true one), LLM tokens and
wall time; plus the cumulative cost per round for the plot.

    tailor replay simulate --task email --rounds 200 --seeds 3 --out runs/email

The zoo (``replay.zoo``, issue 12) runs through :func:`simulate_zoo`: users
written apart from the learners, each on its own seeded drafts, every agent on
a fresh engine per user; its report is ``replay.zoo.report``.

    tailor replay simulate --users zoo --rounds 40 --out runs/zoo
"""

from __future__ import annotations

import csv
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from learners.backends.embeddings import Embedder
from learners.backends.llm import LLM
from learners.style import operations as ops
from learners.style.text import edit_distance
from replay import zoo
from replay.agents import BASELINES, Agent, HttpAgent, Round, build_agent, make_round
from replay.corpus import Document, by_source
from replay.llm import LatentMatcher, LLMAgent, LLMUser
from replay.users import Latent, RuleUser, check_sources, latent_for
from replay.zoo import Case, ZooUser
from replay.zoo.report import ZooRun
from store.errors import InvalidInputError


class PrecomputedEmbedder:
    """The real model's vectors for the corpus, computed in one batch and reused."""

    def __init__(self, model: Embedder, texts: Sequence[str]) -> None:
        self.model = model
        self.model_name, self.dim, self.max_chars = model.model_name, model.dim, model.max_chars
        unique = list(dict.fromkeys(texts))
        self._vectors = dict(zip(unique, model.embed(unique), strict=True)) if unique else {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.model.embed(missing), strict=True))
        return np.stack([self._vectors[t] for t in texts])


@dataclass
class Run:
    task: str
    agent: str
    seed: int
    costs: list[int] = field(default_factory=list)
    accepted: int = 0
    f1: list[float] = field(default_factory=list)
    seconds: float = 0.0
    llm_tokens: int = 0

    @property
    def cumulative_cost(self) -> int:
        return sum(self.costs)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / len(self.costs) if self.costs else 0.0

    @property
    def preference_accuracy(self) -> float:
        return statistics.fmean(self.f1) if self.f1 else 0.0


def f1(used: list[ops.StoredOperation], latent: Sequence[ops.StoredOperation]) -> float:
    a, b = {ops.key(o) for o in used}, {ops.key(o) for o in latent}
    if not a and not b:
        return 1.0
    hits = len(a & b)
    return 2 * hits / (len(a) + len(b))


def schedule(docs: list[Document], task: str, rounds: int, seed: int) -> list[Document]:
    """``rounds`` documents, sources split evenly, in a seeded order."""
    groups = by_source(docs, task)
    if not groups:
        raise InvalidInputError(f"the corpus has no documents for task {task!r}")
    rng = random.Random(f"{task}:{seed}")
    sources = sorted(groups)
    plan = [sources[i % len(sources)] for i in range(rounds)]
    rng.shuffle(plan)
    pools: dict[str, list[Document]] = {}
    chosen = []
    for source in plan:
        if not pools.get(source):
            pools[source] = rng.sample(groups[source], len(groups[source]))
        chosen.append(pools[source].pop())
    return chosen


class User(Protocol):
    engine: str

    def edit(self, latent: Latent, draft: str) -> str: ...


def run_one(
    task: str,
    agent: Agent,
    docs: list[Document],
    seed: int,
    progress: Callable[[], None] | None = None,
    *,
    user: User | None = None,
    matcher: LatentMatcher | None = None,
) -> Run:
    """One agent through the rounds; with an LLM user, ``matcher`` scores its preferences."""
    user = user or RuleUser()
    run = Run(task, agent.name, seed)
    start = time.perf_counter()
    try:
        for number, doc in enumerate(docs):
            r = make_round(number, doc, latent_for(task, doc.source))
            shown = agent.propose(r)
            final = user.edit(r.latent, shown)
            run.costs.append(edit_distance(shown, final))
            run.accepted += shown == final
            if matcher is not None and isinstance(agent, LLMAgent):
                run.f1.append(matcher.accuracy(agent.preference, r.latent))
            else:
                run.f1.append(f1(agent.last_operations, r.latent.operations))
            agent.observe(r, shown, final)
            if progress is not None:
                progress()
    finally:
        agent.close()
    run.seconds = time.perf_counter() - start
    run.llm_tokens = agent.tokens + int(getattr(user, "tokens", 0))
    return run


def simulate(
    docs: list[Document],
    *,
    tasks: Sequence[str],
    agents: Sequence[str],
    rounds: int,
    seeds: int,
    embedder: Embedder | None,
    progress: Callable[[], None] | None = None,
    server: tuple[str, str] | None = None,
    llm: LLM | None = None,
    user_engine: str = "rule",
    drafter: str = "extractive",
) -> list[Run]:
    """Every (task, seed, agent) run; with ``server`` (url, key), Tailor runs over HTTP.

    ``embedder`` may be None only when every agent but the baselines that need
    no model (``none``, ``oracle``) runs on the server. ``user_engine="llm"``
    and ``drafter="llm"`` need ``llm`` (the paper's protocol with an LLM).
    """
    if (user_engine == "llm" or drafter == "llm") and llm is None:
        raise InvalidInputError(
            "the llm user engine and the llm drafter need an LLM: set TAILOR_LLM_MODEL",
            code="llm_not_configured",
        )
    if drafter == "llm" and server is not None:
        raise InvalidInputError("--url runs the extractive drafter only")
    check_sources((d.task, d.source) for d in docs if d.task in tasks)
    plans = {(t, s): schedule(docs, t, rounds, s) for t in tasks for s in range(seeds)}
    cached: Embedder | None = None
    if embedder is not None:
        contexts = [
            make_round(0, d, latent_for(d.task, d.source)).context
            for plan in plans.values()
            for d in plan
        ]
        cached = PrecomputedEmbedder(embedder, contexts)
    runs = []
    for (task, seed), plan in plans.items():
        matcher = None
        if user_engine == "llm" and cached is not None:
            matcher = LatentMatcher(cached, task)
        for name in agents:
            agent: Agent
            if server is not None and name not in BASELINES:
                agent = HttpAgent(*server, name=name)
            else:
                agent = build_agent(name, cached, llm)
            if drafter == "llm" and llm is not None:
                agent = LLMAgent(agent, llm)
            user: User = LLMUser(llm) if user_engine == "llm" and llm is not None else RuleUser()
            runs.append(run_one(task, agent, plan, seed, progress, user=user, matcher=matcher))
    return runs


# -- the zoo (issue 12) -----------------------------------------------------------------


def zoo_rng(user: ZooUser, seed: int, number: int) -> random.Random:
    """The randomness of one round's edit: the same whichever agent drafted it."""
    return random.Random(f"{user.name}:{seed}:{number}:edit")


def zoo_round(user: ZooUser, case: Case, seed: int) -> Round:
    """A zoo case as a round; the latent is empty (the user's habits are its own code)."""
    doc = Document(f"{user.name}-{seed}-{case.number}", user.task, case.domain, case.context)
    return Round(case.number, doc, Latent(user.task, case.domain, "", ()), case.context, case.draft)


class ZooOracle(Agent):
    """Knows the zoo user's habits: shows what the user would make of the base draft."""

    name = "oracle"

    def __init__(self, user: ZooUser, cases: Sequence[Case], seed: int) -> None:
        super().__init__()
        self.user, self.cases, self.seed = user, cases, seed

    def propose(self, r: Round) -> str:
        case = self.cases[r.number]
        return self.user(r.draft, case, zoo_rng(self.user, self.seed, r.number))


def run_zoo_user(
    user: ZooUser,
    agent: Agent,
    cases: Sequence[Case],
    seed: int,
    progress: Callable[[], None] | None = None,
) -> ZooRun:
    """One agent through one zoo user's rounds; cost = word-token Levenshtein distance."""
    run = ZooRun(user.name, user.consistent, agent.name, seed)
    start = time.perf_counter()
    try:
        for case in cases:
            r = zoo_round(user, case, seed)
            shown = agent.propose(r)
            final = user(shown, case, zoo_rng(user, seed, case.number))
            run.costs.append(edit_distance(shown, final))
            run.accepted += shown == final
            agent.observe(r, shown, final)
            if progress is not None:
                progress()
    finally:
        agent.close()
    run.seconds = time.perf_counter() - start
    return run


def simulate_zoo(
    users: Sequence[ZooUser],
    *,
    agents: Sequence[str],
    rounds: int,
    seeds: int,
    embedder: Embedder | None,
    progress: Callable[[], None] | None = None,
    server: tuple[str, str] | None = None,
) -> list[ZooRun]:
    """Every (user, seed, agent) run, each agent on a fresh engine; ``none`` always runs.

    Each user's rounds come from its domains' generators (``replay.zoo.domains``),
    seeded by user and seed, so every agent sees the same drafts.
    """
    agents = ["none", *(a for a in agents if a != "none")]
    plans = {
        (u.name, s): [zoo.case(u.domains, f"{u.name}:{s}", n, rounds) for n in range(rounds)]
        for u in users
        for s in range(seeds)
    }
    cached = None
    if embedder is not None:
        cached = PrecomputedEmbedder(embedder, [c.context for p in plans.values() for c in p])
    runs = []
    for user in users:
        for seed in range(seeds):
            cases = plans[(user.name, seed)]
            for name in agents:
                agent: Agent
                if name == "oracle":
                    agent = ZooOracle(user, cases, seed)
                elif server is not None and name not in BASELINES:
                    agent = HttpAgent(*server, name=name)
                else:
                    agent = build_agent(name, cached)
                runs.append(run_zoo_user(user, agent, cases, seed, progress))
    return runs


def zoo_command(
    names: list[str],
    learners: str | None,
    rounds: int,
    seeds: int,
    out: Path,
    server: tuple[str, str] | None,
    echo: Callable[..., object],
) -> list[Path]:
    """``tailor replay simulate --users zoo``: run, write the reports, print the table."""
    from tqdm import tqdm

    from learners.backends.embeddings import SentenceTransformerEmbedder
    from replay.zoo import report

    users = zoo.find(names or None)
    agents = [a.strip() for a in (learners or "none,tailor").split(",") if a.strip()]
    agents = ["none", *(a for a in agents if a != "none")]
    embedder = None
    if any(a == "icl-edit" or (a not in BASELINES and server is None) for a in agents):
        echo("loading the embedding model...", err=True)
        embedder = SentenceTransformerEmbedder()
    start = time.perf_counter()
    total = len(users) * len(agents) * seeds * rounds
    with tqdm(total=total, unit="round", disable=None, file=sys.stderr) as bar:
        runs = simulate_zoo(
            users, agents=agents, rounds=rounds, seeds=seeds, embedder=embedder,
            progress=bar.update, server=server,
        )  # fmt: skip
    written = report.write_reports(runs, out, {u.name: u.habits for u in users})
    echo(report.markdown(runs))
    echo(f"{len(users)} users in {time.perf_counter() - start:.0f} s", err=True)
    echo("wrote " + ", ".join(str(p) for p in written), err=True)
    return written


# -- reports --------------------------------------------------------------------------

COLUMNS = [
    "task",
    "learner",
    "seed",
    "rounds",
    "cumulative_cost",
    "acceptance_rate",
    "preference_accuracy",
    "llm_tokens",
    "seconds",
]


def write_csv(runs: list[Run], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in runs:
            writer.writerow(
                [
                    r.task,
                    r.agent,
                    r.seed,
                    len(r.costs),
                    r.cumulative_cost,
                    f"{r.acceptance_rate:.4f}",
                    f"{r.preference_accuracy:.4f}",
                    r.llm_tokens,
                    f"{r.seconds:.2f}",
                ]
            )


def _mean_std(values: list[float], digits: int = 0) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:,.{digits}f} ± {std:,.{digits}f}"


def markdown(runs: list[Run], users: str = "Rule") -> str:
    """One row per learner, per task: cost, acceptance, accuracy (PRELUDE Table 2 layout)."""
    tasks = list(dict.fromkeys(r.task for r in runs))
    agents = list(dict.fromkeys(r.agent for r in runs))
    seeds = len({r.seed for r in runs})
    rounds = max(len(r.costs) for r in runs)
    head = (
        "| learner | "
        + " | ".join(
            f"{t}: cumulative cost | {t}: % of none | {t}: accepted | {t}: pref. accuracy"
            for t in tasks
        )
        + " |"
    )
    lines = [
        f"{users} users, {rounds} rounds, {seeds} seed(s); mean ± std over seeds.",
        "",
        head,
        "|" + "---|" * (1 + 4 * len(tasks)),
    ]
    for agent in agents:
        cells = [agent]
        for task in tasks:
            mine = [r for r in runs if r.task == task and r.agent == agent]
            none = [r.cumulative_cost for r in runs if r.task == task and r.agent == "none"]
            costs = [float(r.cumulative_cost) for r in mine]
            share = (
                f"{100 * statistics.fmean(costs) / statistics.fmean(none):.1f}%"
                if none and statistics.fmean(none)
                else "n/a"
            )
            cells += [
                _mean_std(costs),
                share,
                _mean_std([r.acceptance_rate for r in mine], 2),
                _mean_std([r.preference_accuracy for r in mine], 2),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(runs: list[Run], task: str, path: Path, users: str = "rule") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for agent in dict.fromkeys(r.agent for r in runs if r.task == task):
        curves = [np.cumsum(r.costs) for r in runs if r.task == task and r.agent == agent]
        ax.plot(np.arange(1, len(curves[0]) + 1), np.mean(curves, axis=0), label=agent)
    ax.set_xlabel("round")
    ax.set_ylabel("cumulative edit cost (word Levenshtein)")
    ax.set_title(f"PRELUDE replay, {task}, {users} users")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def users_label(engine: str) -> str:
    return {"llm": "LLM", "rule": "Rule"}.get(engine, engine)


def write_reports(runs: list[Run], out: Path, users: str = "rule") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.csv", out / "results.md"]
    write_csv(runs, written[0])
    written[1].write_text(markdown(runs, users_label(users)), encoding="utf-8")
    for task in dict.fromkeys(r.task for r in runs):
        path = out / f"cumulative_cost_{task}.png"
        plot(runs, task, path, users)
        written.append(path)
    return written

"""The zoo's report: per-user cost as a share of no learning, targets, table and plot.

Per user and learning agent, from the word-level edit cost of every round
(``replay.simulate.simulate_zoo`` measures it): cumulative cost as % of the
``none`` agent's on the same rounds, late-round cost (the second half) as %,
and the worst window of 10 consecutive rounds as %. The summary checks issue
12's targets: late cost <= 30% for at least 80% of the consistent users,
their median <= 20%, no user above 100% over any 10 rounds, and inconsistent
users <= 105% of no learning.

    tailor replay simulate --users zoo --rounds 40 --out runs/zoo
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

WINDOW = 10
LATE_TARGET, MEDIAN_TARGET, SHARE_TARGET = 30.0, 20.0, 0.8
WINDOW_TARGET, INCONSISTENT_TARGET = 100.0, 105.0


@dataclass
class ZooRun:
    """One agent's run on one zoo user and seed: the cost of each round."""

    user: str
    consistent: bool
    agent: str
    seed: int
    costs: list[int] = field(default_factory=list)
    accepted: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Row:
    """One user, one learning agent, summed over seeds, against ``none``."""

    user: str
    consistent: bool
    agent: str
    rounds: int
    cost: int
    none_cost: int
    cumulative: float | None  # % of none; None when none cost nothing
    late: float | None
    worst_window: float | None
    worst_window_start: int  # first round of the worst window, from 1
    acceptance: float
    seconds: float


def share(cost: float, baseline: float) -> float | None:
    if baseline:
        return 100.0 * cost / baseline
    return None if cost else 0.0


def worst_window(costs: Sequence[int], none: Sequence[int]) -> tuple[float | None, int]:
    """The highest % of none over ``WINDOW`` consecutive rounds (all rounds if fewer)."""
    width = min(WINDOW, len(costs))
    worst: tuple[float | None, int] = (None, 1)
    for start in range(len(costs) - width + 1):
        value = share(sum(costs[start : start + width]), sum(none[start : start + width]))
        if value is not None and (worst[0] is None or value > worst[0]):
            worst = (value, start + 1)
    return worst


def rows(runs: Sequence[ZooRun]) -> list[Row]:
    """A row per (user, agent other than none), seeds summed; windows over each seed."""
    out = []
    users = list(dict.fromkeys(r.user for r in runs))
    agents = [a for a in dict.fromkeys(r.agent for r in runs) if a != "none"]
    for name in users:
        none = {r.seed: r for r in runs if r.user == name and r.agent == "none"}
        for agent in agents:
            mine = [r for r in runs if r.user == name and r.agent == agent and r.seed in none]
            if not mine:
                continue
            half = len(mine[0].costs) // 2
            cost = sum(sum(r.costs) for r in mine)
            base = sum(sum(none[r.seed].costs) for r in mine)
            late = sum(sum(r.costs[half:]) for r in mine)
            late_base = sum(sum(none[r.seed].costs[half:]) for r in mine)
            windows = [worst_window(r.costs, none[r.seed].costs) for r in mine]
            known = [w for w in windows if w[0] is not None]
            window = max(known, key=lambda w: w[0] or 0.0) if known else (None, 1)
            rounds = sum(len(r.costs) for r in mine)
            out.append(
                Row(
                    name, mine[0].consistent, agent, len(mine[0].costs), cost, base,
                    share(cost, base), share(late, late_base), window[0], window[1],
                    sum(r.accepted for r in mine) / rounds if rounds else 0.0,
                    sum(r.seconds for r in mine),
                )
            )  # fmt: skip
    return out


@dataclass(frozen=True)
class Summary:
    agent: str
    consistent: int
    under_target: int  # consistent users with late cost <= 30% of none
    median_late: float | None
    worst_user: str
    worst_late: float | None
    over_window: list[str]  # users above 100% over some 10 rounds
    inconsistent_worst: float | None  # highest cumulative % among inconsistent users
    total: float | None  # all users' cost as % of none's

    @property
    def share_under(self) -> float:
        return self.under_target / self.consistent if self.consistent else 0.0


def summarize(table: Sequence[Row], agent: str) -> Summary:
    mine = [r for r in table if r.agent == agent]
    steady = [r for r in mine if r.consistent]
    late = [(r.late if r.late is not None else float("inf"), r.user) for r in steady]
    worst = max(late) if late else (None, "")
    noisy = [r.cumulative for r in mine if not r.consistent and r.cumulative is not None]
    return Summary(
        agent=agent,
        consistent=len(steady),
        under_target=sum(v <= LATE_TARGET for v, _ in late),
        median_late=statistics.median(v for v, _ in late) if late else None,
        worst_user=worst[1],
        worst_late=worst[0],
        over_window=[
            r.user for r in mine if r.worst_window is not None and r.worst_window > WINDOW_TARGET
        ],
        inconsistent_worst=max(noisy) if noisy else None,
        total=share(sum(r.cost for r in mine), sum(r.none_cost for r in mine)),
    )


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def summary_lines(s: Summary) -> list[str]:
    window_ok = not s.over_window
    noisy_ok = (s.inconsistent_worst or 0.0) <= INCONSISTENT_TARGET
    return [
        f"- consistent users with late cost <= {LATE_TARGET:.0f}% of none: {s.under_target} of "
        f"{s.consistent} ({100 * s.share_under:.0f}%; target >= {100 * SHARE_TARGET:.0f}%: "
        f"{_verdict(s.share_under >= SHARE_TARGET)})",
        f"- median late cost of consistent users: {pct(s.median_late)} (target <= "
        f"{MEDIAN_TARGET:.0f}%: "
        f"{_verdict(s.median_late is not None and s.median_late <= MEDIAN_TARGET)})",
        f"- worst consistent user: {s.worst_user or 'n/a'}, late {pct(s.worst_late)}",
        f"- users above {WINDOW_TARGET:.0f}% over some {WINDOW} consecutive rounds: "
        f"{len(s.over_window)}{' (' + ', '.join(s.over_window) + ')' if s.over_window else ''} "
        f"(target 0: {_verdict(window_ok)})",
        f"- worst inconsistent user, cumulative: {pct(s.inconsistent_worst)} (target <= "
        f"{INCONSISTENT_TARGET:.0f}%: {_verdict(noisy_ok)})",
        f"- all users, cumulative: {pct(s.total)} of no learning",
    ]


def markdown(runs: Sequence[ZooRun], habits: dict[str, str] | None = None) -> str:
    """The summary against the targets and the per-user table, per learning agent."""
    table = rows(runs)
    rounds = max((len(r.costs) for r in runs), default=0)
    seeds = len({r.seed for r in runs})
    lines = [
        f"Zoo users, {rounds} rounds, {seeds} seed(s); cost as % of no learning on the same "
        f"rounds; late = rounds {rounds // 2 + 1}-{rounds}; window = worst {WINDOW} "
        "consecutive rounds.",
    ]
    for agent in dict.fromkeys(r.agent for r in table):
        lines += ["", f"### {agent}", "", *summary_lines(summarize(table, agent)), ""]
        lines += [
            "| user | kind | none cost | cost | cumulative | late | worst window (from round) "
            "| accepted |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in (r for r in table if r.agent == agent):
            lines.append(
                f"| {r.user} | {'consistent' if r.consistent else 'inconsistent'} | "
                f"{r.none_cost:,} | {r.cost:,} | {pct(r.cumulative)} | {pct(r.late)} | "
                f"{pct(r.worst_window)} ({r.worst_window_start}) | {r.acceptance:.2f} |"
            )
    if habits:
        lines += ["", "### users", "", "| user | habits |", "|---|---|"]
        lines += [f"| {name} | {text.replace('|', '/')} |" for name, text in habits.items()]
    return "\n".join(lines) + "\n"


COLUMNS = [
    "user", "kind", "learner", "rounds", "none_cost", "cost", "cumulative_pct", "late_pct",
    "worst_window_pct", "worst_window_start", "acceptance_rate", "seconds",
]  # fmt: skip


def write_csv(runs: Sequence[ZooRun], path: Path) -> None:
    def num(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}"

    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in rows(runs):
            kind = "consistent" if r.consistent else "inconsistent"
            writer.writerow(
                [r.user, kind, r.agent, r.rounds, r.none_cost, r.cost, num(r.cumulative),
                 num(r.late), num(r.worst_window), r.worst_window_start,
                 f"{r.acceptance:.4f}", f"{r.seconds:.2f}"]
            )  # fmt: skip


def plot(runs: Sequence[ZooRun], path: Path) -> None:
    """Per user: cumulative and late cost as % of none, per learning agent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    table = rows(runs)
    agents = list(dict.fromkeys(r.agent for r in table))
    users = list(dict.fromkeys(r.user for r in table))
    fig, axes = plt.subplots(
        1, len(agents), figsize=(7 * len(agents), 0.32 * len(users) + 1.8), squeeze=False
    )
    for ax, agent in zip(axes[0], agents, strict=True):
        mine = {r.user: r for r in table if r.agent == agent}
        y = np.arange(len(users))
        cum = [(mine[u].cumulative or 0.0) if u in mine else 0.0 for u in users]
        late = [(mine[u].late or 0.0) if u in mine else 0.0 for u in users]
        ax.barh(y - 0.2, cum, height=0.4, label="cumulative", color="#9bbbd9")
        ax.barh(y + 0.2, late, height=0.4, label="late (2nd half)", color="#2f6fa8")
        window = [(mine[u].worst_window or 0.0) if u in mine else 0.0 for u in users]
        ax.scatter(window, y, marker="|", s=60, color="#c0392b", label=f"worst {WINDOW} rounds")
        ax.axvline(LATE_TARGET, color="green", ls="--", lw=1, label=f"{LATE_TARGET:.0f}% target")
        ax.axvline(100, color="grey", ls=":", lw=1, label="no learning")
        labels = [u if mine.get(u) is None or mine[u].consistent else f"{u} (inc.)" for u in users]
        ax.set_yticks(y, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("edit cost, % of no learning")
        ax.set_title(f"Zoo users, {agent}")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(
    runs: Sequence[ZooRun], out: Path, habits: dict[str, str] | None = None
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.csv", out / "results.md", out / "zoo_cost.png"]
    write_csv(runs, written[0])
    written[1].write_text(markdown(runs, habits), encoding="utf-8")
    plot(runs, written[2])
    return written

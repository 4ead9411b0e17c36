"""``tailor eval ...``: evaluations written for the project, printed as tables.

``tailor eval scope`` measures whether verbal feedback stays in its scope
(``replay.scope_eval``: in-scope recall, near- and out-of-scope leaks) on the
packaged scope set, at the configured ``TAILOR_FEEDBACK_MIN_SCORE`` or over a
sweep of thresholds (``--sweep``, for calibration on the dev split).
"""

from __future__ import annotations

from typing import Any, cast

import click


@click.group("eval")
def eval_group() -> None:
    """Evaluations on packaged data (offline)."""


@eval_group.command("scope")
@click.option(
    "--split",
    type=click.Choice(["dev", "test", "all"]),
    default="test",
    show_default=True,
    help="dev: the part a threshold may be calibrated on; test: held out.",
)
@click.option(
    "--min-score",
    type=click.FloatRange(-1.0, 1.0),
    default=None,
    help="Feedback scope threshold (default: TAILOR_FEEDBACK_MIN_SCORE).",
)
@click.option("--sweep", is_flag=True, help="Print the rates at thresholds 0.20 .. 0.80.")
def scope(split: str, min_score: float | None, sweep: bool) -> None:
    """Does feedback stay in its scope? In-scope recall, near/out-of-scope leaks."""
    from learners.backends.embeddings import SentenceTransformerEmbedder
    from replay import scope_eval
    from service.settings import Settings

    embedder = SentenceTransformerEmbedder()
    part = cast("scope_eval.Split", split)
    if sweep:
        thresholds = [round(0.2 + 0.05 * i, 2) for i in range(13)]
        click.echo(scope_eval.format_rows(scope_eval.sweep(part, embedder, thresholds)))
        return
    threshold = min_score if min_score is not None else Settings().feedback_min_score
    row: dict[str, Any] = {"split": split, "threshold": threshold}
    row |= scope_eval.evaluate(part, embedder, min_score=threshold)
    click.echo(scope_eval.format_rows([row]))
    for line in scope_eval.verdicts(row):
        click.echo(line)

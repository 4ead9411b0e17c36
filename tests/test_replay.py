"""The offline PRELUDE simulation: corpus, rule users, agents, reports, log replay."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from learners.backends.embeddings import SentenceTransformerEmbedder
from learners.style import operations as ops
from replay.agents import base_draft, build_agent, make_round
from replay.corpus import TASKS, by_source, load, packaged
from replay.logreplay import replay_log, report
from replay.simulate import schedule, simulate, write_reports
from replay.users import LATENT, RuleUser, latent_for
from service.cli import cli
from store.errors import InvalidInputError
from tests.conftest import METRICS_KEY
from tests.live import Server


def test_packaged_corpus_has_every_prelude_source() -> None:
    docs = packaged()
    for task in TASKS:
        groups = by_source(docs, task)
        latent_sources = {lat.source for lat in LATENT if lat.task == task}
        assert latent_sources == set(groups)
        for source, items in groups.items():
            assert len(items) >= 20, source
            assert all(100 <= len(d.text.split()) <= 400 for d in items), source
    assert len({d.id for d in docs}) == len(docs)


def test_external_corpus_is_validated(tmp_path: Path) -> None:
    good = tmp_path / "mine.jsonl"
    good.write_text('{"source": "memo", "text": "One. Two."}\n')
    [doc] = load(good, task="email")
    assert (doc.task, doc.source, doc.id) == ("email", "memo", "memo-1")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"source": "memo"}\n')
    with pytest.raises(InvalidInputError, match=r"bad\.jsonl:1: needs a string 'text'"):
        load(bad, task="email")
    with pytest.raises(InvalidInputError, match="'task' must be one of"):
        load(good)


@pytest.mark.parametrize("latent", LATENT, ids=[f"{lat.task}/{lat.source}" for lat in LATENT])
def test_rule_users_edit_real_drafts_until_their_detectors_pass(latent) -> None:  # type: ignore[no-untyped-def]
    doc = next(d for d in packaged() if d.source == latent.source and d.task == latent.task)
    draft = base_draft(doc)
    user = RuleUser()
    final = user.edit(latent, draft)
    assert final != draft
    assert all(ops.holds(op, final) for op in latent.operations)
    assert user.edit(latent, final) == final  # a satisfied user accepts


def test_schedule_is_seeded_and_balanced() -> None:
    docs = packaged()
    plan = schedule(docs, "email", 40, seed=1)
    assert plan == schedule(docs, "email", 40, seed=1)
    assert plan != schedule(docs, "email", 40, seed=2)
    counts = {s: sum(d.source == s for d in plan) for s in {d.source for d in plan}}
    assert set(counts.values()) == {10}


def test_oracle_is_free_and_none_pays(embedder: SentenceTransformerEmbedder) -> None:
    docs = schedule(packaged(), "summarization", 10, seed=0)
    r = make_round(0, docs[0], latent_for("summarization", docs[0].source))
    oracle, none = build_agent("oracle", embedder), build_agent("none", embedder)
    assert RuleUser().edit(r.latent, oracle.propose(r)) == oracle.propose(r)
    assert RuleUser().edit(r.latent, none.propose(r)) != none.propose(r)
    with pytest.raises(InvalidInputError, match="unknown agent 'nobody'"):
        build_agent("nobody", embedder)


def test_short_run_is_deterministic_and_learning_beats_none(
    embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    def run() -> list[tuple[str, str, int, int]]:
        runs = simulate(
            packaged(),
            tasks=["email"],
            agents=["none", "oracle", "tailor"],
            rounds=30,
            seeds=1,
            embedder=embedder,
        )
        write_reports(runs, tmp_path)
        return [(r.task, r.agent, r.seed, r.cumulative_cost) for r in runs]

    first = run()
    assert first == run()
    cost = {agent: c for _, agent, _, c in first}
    assert cost["oracle"] == 0
    assert cost["tailor"] < 0.8 * cost["none"]
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert {
        "task",
        "learner",
        "seed",
        "cumulative_cost",
        "acceptance_rate",
        "preference_accuracy",
        "llm_tokens",
        "seconds",
    } <= set(rows[0])
    assert "| tailor |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "cumulative_cost_email.png").read_bytes()[:4] == b"\x89PNG"


def test_log_replay_reports_what_rules_would_have_saved(
    embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    export = tmp_path / "dana.jsonl"
    lines = []
    for i in range(6):
        draft = f"Hi Sam,\n\nThe report {i} is attached.\n\nThanks,\nSam"
        final = f"Hi Sam,\n\nThe report {i} is attached.\n\nBest,\nDana"
        lines.append(
            {
                "type": "interaction",
                "id": f"int_{i}",
                "context": f"Email {i} to Sam",
                "draft": draft,
                "final": final,
                "task": "email",
                "created_at": f"2026-01-0{i + 1}",
            }
        )
    export.write_text("\n".join(json.dumps(x) for x in [{"type": "preference"}, *lines]))
    results = replay_log(export, ["rules"], embedder)
    assert [r.raw_cost for r in results] == [2] * 6  # Thanks->Best, Sam->Dana
    assert results[0].rewritten_cost == 2 and results[-1].rewritten_cost == 0
    assert "saved" in report(results, per_round=True)


def test_replay_cli_rejects_the_llm_user_without_a_back_end(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["replay", "simulate", "--user", "llm", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1 and "need an LLM: set TAILOR_LLM_MODEL" in result.output
    assert "loading the embedding model" not in result.output  # fails before loading it


def test_the_llm_protocol_runs_against_an_openai_compatible_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--user llm: yes/no then revise, an LLM drafter, CIPHER-5 learning, tokens counted."""
    from tests.fakellm import Provider, serve_provider

    provider = Provider()
    with serve_provider(provider) as url:
        monkeypatch.setenv("TAILOR_LLM_MODEL", "openai/fake-model")
        monkeypatch.setenv("TAILOR_LLM_API_BASE", url)
        monkeypatch.setenv("TAILOR_LLM_API_KEY", "sk-test")
        result = CliRunner().invoke(
            cli,
            [
                "replay", "simulate", "--task", "email", "--user", "llm",
                "--learners", "none,oracle,cipher-5", "--rounds", "8", "--seeds", "1",
                "--out", str(tmp_path),
            ],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {r["learner"]: r for r in csv.DictReader((tmp_path / "results.csv").open())}
    assert set(rows) == {"none", "oracle", "cipher-5"}
    # The scripted user accepts short texts: the oracle's conditioned drafts are short.
    assert int(rows["oracle"]["cumulative_cost"]) == 0
    assert int(rows["none"]["cumulative_cost"]) > 0
    assert int(rows["cipher-5"]["cumulative_cost"]) < int(rows["none"]["cumulative_cost"])
    assert float(rows["oracle"]["preference_accuracy"]) == 1.0
    assert all(int(r["llm_tokens"]) > 0 for r in rows.values())
    asked = [c["messages"][-1]["content"] for c in provider.calls]
    assert any("Answer only yes or no." in a for a in asked)
    assert any("Changes measured on the two texts" in a for a in asked)  # CIPHER inferred
    assert "LLM users, 8 rounds" in (tmp_path / "results.md").read_text()


def test_simulation_runs_against_a_live_server(tmp_path: Path, live_server: Server) -> None:
    from store.db import Store

    key = live_server.key_for("replay")

    def logged() -> float:
        metrics = httpx.get(
            f"{live_server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_KEY}"}
        )
        line = next(
            ln
            for ln in metrics.text.splitlines()
            if ln.startswith("tailor_interactions_logged_total ")
        )
        return float(line.split()[1])

    before = logged()
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "replay",
            "simulate",
            "--task",
            "email",
            "--learners",
            "none,tailor",
            "--rounds",
            "12",
            "--seeds",
            "1",
            "--url",
            live_server.url,
            "--key",
            key,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {r["learner"]: r for r in csv.DictReader((out / "results.csv").open())}
    assert int(rows["tailor"]["cumulative_cost"]) < int(rows["none"]["cumulative_cost"])
    assert logged() - before == 12  # every round of the tailor run was logged on the server
    # Each run used its own user on the server and deleted it afterwards (the shared
    # server's other tenants are not this test's business).
    store = Store.open(live_server.data_dir)
    try:
        count = "SELECT count(*) FROM interactions WHERE tenant = ?"
        assert store.db.execute(count, ["replay"]).fetchone()[0] == 0
    finally:
        store.close()

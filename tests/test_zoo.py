"""The user zoo (issue 12): users written apart from the learners, their generators,
the zoo's report and ``tailor replay simulate --users zoo``; and the error for a
corpus source no simulated user knows."""

from __future__ import annotations

import ast
import csv
import inspect
import random
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from replay import zoo
from replay.corpus import Document
from replay.simulate import simulate
from replay.users import check_sources, latent_for
from replay.zoo.domains import GENERATORS, Case, case, plan
from replay.zoo.report import ZooRun, rows, summarize
from replay.zoo.text import all_sentences, sentences, split
from service.cli import cli
from store.errors import InvalidInputError

ZOO_DIR = Path(zoo.__file__).parent
USERS = {u.name: u for u in zoo.ZOO}
CONSISTENT = [u for u in zoo.ZOO if u.consistent]


def cases(user: zoo.ZooUser, count: int = 16, seed: int = 0, rounds: int = 40) -> list[Case]:
    return [case(user.domains, f"{user.name}:{seed}", n, rounds) for n in range(count)]


def edit(user: zoo.ZooUser, text: str, c: Case, roll: int = 0) -> str:
    return user(text, c, random.Random(f"{user.name}:{c.number}:{roll}"))


# -- the zoo's shape -----------------------------------------------------------------------


def test_the_zoo_has_every_kind_of_user() -> None:
    assert len(zoo.ZOO) >= 24 and len(USERS) == len(zoo.ZOO)
    assert sum(not u.consistent for u in zoo.ZOO) >= 4
    assert sum(len(u.domains) == 2 for u in zoo.ZOO) >= 2  # two kinds of context
    assert {"switch_sven", "drift_dora"} <= set(USERS)  # habits that change midway
    assert {d for u in zoo.ZOO for d in u.domains} == set(GENERATORS)
    for u in zoo.ZOO:
        assert len(u.habits) > 40, u.name  # the docstring lists the habits
        lines = len(inspect.getsource(u.edit).splitlines())
        assert 10 <= lines <= 40, (u.name, lines)


def test_the_zoo_imports_nothing_from_the_learners() -> None:
    """Written apart: no import of learners/ or of the PRELUDE rule users, even indirectly."""
    for path in sorted(ZOO_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: relative import"
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith("learners"), f"{path.name} imports {name}"
                if name.startswith("replay"):
                    assert name == "replay" or name.startswith("replay.zoo"), (path.name, name)
        assert ast.get_docstring(tree), path.name
    code = (
        "import sys, replay.zoo, replay.zoo.report; "
        "print([m for m in sys.modules if m.startswith('learners') or m == 'replay.users'])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- generators ----------------------------------------------------------------------------


@pytest.mark.parametrize("domain", sorted(GENERATORS))
def test_generators_are_seeded_and_varied(domain: str) -> None:
    make = GENERATORS[domain]
    assert make(random.Random(1)) == make(random.Random(1))
    drafts = [make(random.Random(seed)) for seed in range(20)]
    assert len({c.draft for c in drafts}) == 20
    assert len({c.context for c in drafts}) == 20
    assert all(c.facts and all(v in c.context for v in c.facts.values()) for c in drafts)
    # the same sentence kind comes in several phrasings: first words differ a lot
    openings = {s.split()[0] for c in drafts for s in all_sentences(split(c.draft))}
    assert len(openings) >= 5


def test_boilerplate_varies_in_punctuation_and_casing() -> None:
    seen = set()
    for seed in range(60):
        draft = GENERATORS["support"](random.Random(seed)).draft
        m = re.search(r"(?i)we apologize for any inconvenience this may have caused([.!]*)", draft)
        if m:
            seen.add((m.group(0)[:2], m.group(1)))
    assert len({punct for _, punct in seen}) >= 2 and len({start for start, _ in seen}) >= 2


def test_runs_differ_by_seed_and_two_kind_users_get_both_kinds() -> None:
    sofia = USERS["split_sofia"]
    assert [c.draft for c in cases(sofia, seed=0)] != [c.draft for c in cases(sofia, seed=1)]
    assert cases(sofia) == cases(sofia)
    kinds = plan(sofia.domains, "split_sofia:0", 40)
    assert kinds.count("email") == kinds.count("support") == 20
    assert kinds[:20] != ["email", "support"] * 10  # shuffled, not alternating


# -- the users' habits ---------------------------------------------------------------------


@pytest.mark.parametrize("user", CONSISTENT, ids=lambda u: u.name)
def test_consistent_users_fix_drafts_and_accept_what_conforms(user: zoo.ZooUser) -> None:
    changed = 0
    for c in cases(user, 20):
        final = edit(user, c.draft, c)
        changed += final != c.draft
        assert edit(user, final, c, roll=1) == final, (user.name, final)  # idempotent
    assert changed >= 18  # the habits fire on drafts that need them


def _body(text: str) -> list[str]:
    return text.split("\n")


def _first_after_tldr(text: str) -> bool:
    head, _, rest = text.partition("\n\n")
    return head.startswith("TL;DR: ") and head[7:] == sentences(rest.split("\n\n")[0])[0]


Check = Callable[[str, Case], bool]

CHECKS: dict[str, Check] = {
    "formal_fiona": lambda t, c: (
        t.startswith(f"Attn: {c.facts['role']}, {c.facts['org']}\n\n")
        and _body(t)[2] == f"Dear {c.facts['first']} {c.facts['last']},"
        and not re.search(r"(?i)finds you well|utiliz|in order to|!", t)
        and t.endswith("Kind regards,\nFiona")
    ),
    "brisk_ben": lambda t, c: (
        t.startswith(f"Hi {c.facts['first']},\n")
        and not re.search(r"(?i)hesitate|finds you well|\bi think\b|perhaps", t)
        and len(sentences(t.split("\n\n")[1])) <= 3
        and t.endswith("\n— Ben")
    ),
    "hedgeless_hana": lambda t, c: (
        not re.search(r"(?i)\b(i think|perhaps|maybe|just|approximately)\b|!", t)
        and t.startswith(f"Hello {c.facts['first']},")
        and t.endswith("Best,\nHana")
    ),
    "ref_raj": lambda t, c: (
        _body(t)[2] == f"Ref: {c.facts['code']}, {c.facts['date']}"
        and not re.search(r"(?i)\bdo not\b|\bwe are\b|hesitate", t)
        and t.endswith("Thanks,\nRaj")
    ),
    "tldr_tara": lambda t, c: (
        _first_after_tldr(t) and not re.search(r"(?i)report covers|overall, the|approximately", t)
    ),
    "bullets_bo": lambda t, c: (
        _body(t)[0] == f"Week of {c.facts['date']}"
        and 1 <= len(_body(t)[2:]) <= 4
        and all(x.startswith("- ") and not x.endswith(".") for x in _body(t)[2:])
    ),
    "numbered_nia": lambda t, c: (
        _body(t)[0] == _body(t)[0].upper()
        and c.facts["code"] in _body(t)[0]
        and [x[:3] for x in _body(t)[2:]] == [f"{n}. " for n in range(1, len(_body(t)) - 1)]
        and len(_body(t)) <= 5
        and " and " not in t
    ),
    "plain_pete": lambda t, c: (
        _body(t)[-1] == f"Owner: {c.facts['owner']}"
        and not re.search(r"(?i)leverage|circle back|going forward|overall, the", t)
    ),
    "support_sam": lambda t, c: (
        t.startswith(f"Hi {c.facts['first']},\n")
        and f"\nRef: #{c.facts['ticket']}\n" in t
        and "inconvenience" not in t.lower()
        and t.endswith("Cheers,\nSam")
    ),
    "warm_wendy": lambda t, c: (
        _body(t)[2].startswith(f"Sorry to hear that {c.facts['issue']}.")
        and not re.search(r"(?i)\bwe\b|\bour\b|contacting support", t)
        and t.endswith("Best wishes,\nWendy")
    ),
    "steps_sid": lambda t, c: (
        f"Ticket #{c.facts['ticket']} · {c.facts['plan']} plan" in _body(t)
        and 1 <= sum(bool(re.match(r"\d\. ", x)) for x in _body(t)) <= 3
        and "hope this helps" not in t.lower()
    ),
    "casual_cara": lambda t, c: (
        t.startswith(f"Hey {c.facts['first']}!\n")
        and not re.search(r"(?i)\bdo not\b|\bwe are\b|\bplease\b", t)
        and t.endswith("\n\nCheers!")
    ),
    "terse_tom": lambda t, c: (
        not re.search(r"(?i)!|\band\b|approximately|any thoughts|^(hey|hi|hello)", t)
        and len(sentences(t)) <= 3
    ),
    "sprint_sue": lambda t, c: (
        t.startswith(f"Hi {c.facts['team']} team,\n\n[Sprint {c.facts['sprint']}] ")
        and t.endswith(f"\n\nDue: {c.facts['date']}")
        and "any thoughts" not in t.lower()
    ),
    "lower_leo": lambda t, c: t == t.lower() and t.startswith("hi all,\n") and "thanks" not in t,
    "we_wes": lambda t, c: (
        _body(t)[0] == f"Update for #{c.facts['channel']}:"
        and not re.search(r"\bI\b|\b(my|me)\b|!|(?i:thanks)", t)
    ),
    "tldr_tess": lambda t, c: (
        _first_after_tldr(t)
        and len(sentences(t.split("\n\n")[1])) <= 3
        and not re.search(r"(?i)in conclusion|this (document|text)", t)
    ),
    "bullet_bianca": lambda t, c: (
        _body(t)[-1] == f"Source: {c.facts['author']}, {c.facts['date']}"
        and all(x.startswith("- ") and x.endswith(".") for x in _body(t)[:-2])
        and 1 <= len(_body(t)) - 2 <= 4
    ),
    "brief_quinn": lambda t, c: (
        _body(t)[0] == f'"{c.facts["title"]}" in brief'
        and "%" not in t
        and len(sentences(t.split("\n\n")[-1])) <= 2
    ),
    "split_sofia": lambda t, c: (
        t.startswith(f"Dear {c.facts['first']},") and t.endswith("Kind regards,\nSofia")
        if c.domain == "email"
        else f"\nRef: #{c.facts['ticket']}\n" in t and t.endswith("Cheers,\nSofia")
    ),
    "dual_dan": lambda t, c: (
        all(re.match(r"\d\. ", x) for x in _body(t)) and len(_body(t)) <= 3
        if c.domain == "report"
        else t == t.lower() and " and " not in t
    ),
    "two_tia": lambda t, c: (
        _first_after_tldr(t)
        if c.domain == "summary"
        else t.startswith(f"Hi {c.facts['first']},") and t.endswith("Best,\nTia")
    ),
    "switch_sven": lambda t, c: (
        t.startswith(f"Hey {c.facts['first']},") and t.endswith("Cheers,\nSven")
        if c.number >= c.rounds // 2
        else t.startswith(f"Hello {c.facts['first']},") and t.endswith("Best,\nSven")
    ),
    "drift_dora": lambda t, c: (
        all(x.startswith("* ") for x in _body(t)) and len(_body(t)) <= 3
        if c.number >= c.rounds // 2
        else all(x.startswith("- ") for x in _body(t)[2:])
    ),
}


def test_every_consistent_user_has_a_habit_check() -> None:
    assert set(CHECKS) == {u.name for u in CONSISTENT}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_users_do_what_their_docstrings_say(name: str) -> None:
    user = USERS[name]
    # 12 rounds of a 12-round run: midway users show both halves
    for c in cases(user, 12, rounds=12):
        final = edit(user, c.draft, c)
        assert CHECKS[name](final, c), f"{name} on:\n{c.draft}\n--->\n{final}"


@pytest.mark.parametrize("user", [u for u in zoo.ZOO if not u.consistent], ids=lambda u: u.name)
def test_inconsistent_users_are_seeded_and_contradict_themselves(user: zoo.ZooUser) -> None:
    c = cases(user, 1)[0]
    assert edit(user, c.draft, c, roll=3) == edit(user, c.draft, c, roll=3)
    outcomes = {edit(user, c.draft, c, roll=r) for r in range(12)}
    assert len(outcomes) >= 3


# -- the report ------------------------------------------------------------------------------


def test_report_shares_are_relative_to_no_learning_on_the_same_rounds() -> None:
    runs = [
        ZooRun("a", True, "none", 0, [10] * 20),
        ZooRun("a", True, "tailor", 0, [10] * 10 + [0] * 10, accepted=10),
        ZooRun("b", False, "none", 0, [4] * 20),
        ZooRun("b", False, "tailor", 0, [6] * 20),
    ]
    a, b = rows(runs)
    assert (a.cumulative, a.late, a.worst_window, a.worst_window_start) == (50.0, 0.0, 100.0, 1)
    assert a.acceptance == 0.5 and (b.cumulative, b.late) == (150.0, 150.0)
    s = summarize([a, b], "tailor")
    assert (s.consistent, s.under_target, s.median_late, s.worst_user) == (1, 1, 0.0, "a")
    assert s.over_window == ["b"] and s.inconsistent_worst == 150.0


def test_the_cli_runs_a_small_zoo(tmp_path: Path) -> None:
    names = ["formal_fiona", "split_sofia", "switch_sven", "coin_cole"]
    args = ["replay", "simulate", "--users", "zoo", "--rounds", "6", "--out", str(tmp_path)]
    result = CliRunner().invoke(cli, args + [a for n in names for a in ("--zoo-user", n)])
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [r["user"] for r in table] == names
    for r in table:
        assert r["learner"] == "tailor" and r["rounds"] == "6"
        assert int(r["none_cost"]) > 0 and int(r["cost"]) >= 0
        assert float(r["cumulative_pct"]) == pytest.approx(
            100 * int(r["cost"]) / int(r["none_cost"]), abs=0.01
        )
        assert r["late_pct"] and r["worst_window_pct"]
    assert {r["kind"] for r in table} == {"consistent", "inconsistent"}
    md = (tmp_path / "results.md").read_text()
    assert "| formal_fiona | consistent |" in md and "median late cost" in md
    assert "worst inconsistent user" in md and "### users" in md
    assert (tmp_path / "zoo_cost.png").read_bytes()[:4] == b"\x89PNG"


def test_the_cli_keeps_zoo_and_prelude_options_apart(tmp_path: Path) -> None:
    runner = CliRunner()
    out = ["--out", str(tmp_path)]
    mixed = runner.invoke(cli, ["replay", "simulate", "--users", "zoo", "--task", "email", *out])
    assert mixed.exit_code == 1 and "--users prelude only" in mixed.output
    lone = runner.invoke(cli, ["replay", "simulate", "--zoo-user", "brisk_ben", *out])
    assert lone.exit_code == 1 and "--zoo-user needs --users zoo" in lone.output
    args = ["replay", "simulate", "--users", "zoo", "--zoo-user", "nobody", *out]
    unknown = runner.invoke(cli, args)
    assert unknown.exit_code == 1 and "unknown zoo user(s) nobody" in unknown.output
    assert "brisk_ben" in unknown.output


# -- corpus sources no simulated user knows ---------------------------------------------------


def test_a_corpus_source_no_user_knows_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="known email sources are forum_problem"):
        latent_for("email", "memo")
    with pytest.raises(InvalidInputError, match=r"'memo' \(email\).*peer_review"):
        check_sources([("email", "memo"), ("email", "peer_review")])
    docs = [Document("m1", "email", "memo", "One. Two.")]
    with pytest.raises(InvalidInputError, match="no simulated user knows"):
        simulate(docs, tasks=["email"], agents=["none"], rounds=2, seeds=1, embedder=None)
    corpus = tmp_path / "mine.jsonl"
    corpus.write_text('{"source": "memo", "task": "email", "text": "One. Two."}\n')
    result = CliRunner().invoke(
        cli, ["replay", "simulate", "--corpus", str(corpus), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1, result.output
    assert "no simulated user knows the corpus source(s) 'memo' (email)" in result.output
    assert "paper_notes" in result.output and "Traceback" not in result.output
    assert "loading the embedding model" not in result.output  # fails before loading it

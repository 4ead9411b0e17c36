"""Inverse Constitutional AI (Findeis et al., arXiv 2406.06560): the five steps, offline and
through litellm against an OpenAI-compatible provider on 127.0.0.1.

The synthetic sets plant executable principles (``replay.icai_eval``), so each test
knows what ICAI should recover and which proposals are noise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from learners.backends.embeddings import SentenceTransformerEmbedder
from learners.backends.llm import LiteLLMBackend, LLMError, Messages
from learners.icai import csvfile
from learners.icai import method as icai
from learners.icai.method import Candidate, Constitution, Votes
from learners.icai.pairs import Pair
from learners.style import operations as ops
from replay import icai_eval as icai_data
from store.errors import InvalidInputError, UnavailableError
from tests.fakellm import Provider, serve_provider

# -- the synthetic evaluation: what the paper's Section 4.1 shows ---------------------------


@pytest.mark.parametrize("kind", icai_data.KINDS)
def test_planted_principles_are_recovered_and_noise_rejected(
    kind: icai_data.Kind, embedder: SentenceTransformerEmbedder
) -> None:
    row = icai_data.evaluate(kind, 200, seed=0, embedder=embedder)
    assert row["recovered"] == row["planted"], row
    assert row["noise_kept"] == [], row
    # Nuisance styles were proposed (the filter had something to reject).
    assert row["counts"]["unique"] > len(row["planted"]) + 3
    assert row["agreement_constitution"] >= 0.85
    assert row["agreement_constitution_only"] >= 0.85
    if kind == "aligned":
        # The default judge already holds these principles; the constitution must not hurt.
        assert row["agreement_default"] >= 0.85
        assert row["agreement_constitution"] >= row["agreement_default"] - 0.02
    else:
        assert row["agreement_constitution"] - row["agreement_default"] >= 0.35, row
    if kind == "unaligned":
        assert row["agreement_default"] <= 0.2


def test_paper_majority_rule_alone_keeps_noise_principles(
    embedder: SentenceTransformerEmbedder,
) -> None:
    # The paper's rule (for > against) on 100 pairs: random styles fill the free slots.
    pairs = icai_data.synthetic_pairs("aligned", 100, seed=0)
    planted = {p.key for p in icai_data.PLANTED["aligned"]}
    plain = icai.build_constitution(pairs, embedder=embedder, confidence=0)
    guarded = icai.build_constitution(pairs, embedder=embedder)
    assert set(plain.keys) - planted
    assert set(guarded.keys) == planted
    assert guarded.agreement >= 0.85


def test_synthetic_pairs_are_deterministic_and_balanced() -> None:
    first = icai_data.synthetic_pairs("orthogonal", 60, seed=3)
    assert first == icai_data.synthetic_pairs("orthogonal", 60, seed=3)
    assert first != icai_data.synthetic_pairs("orthogonal", 60, seed=4)
    placed_a = sum(p.preferred == "a" for p in first)
    assert 15 <= placed_a <= 45  # position carries no signal
    # Without noise every pair's preferred text follows its planted principle.
    clean = icai_data.synthetic_pairs("unaligned", 30, seed=0, noise=0.0)
    for i, pair in enumerate(clean):
        key = icai_data.PLANTED["unaligned"][i % 3].key
        assert icai.test_vote(icai.KNOWN[key][1], pair) == pair.preferred, (key, pair)
    # The default judge is what the unaligned set contradicts.
    assert icai.agreement(icai_data.default_judge, clean) == 0.0


# -- the steps one by one -------------------------------------------------------------------

DRAFTS = [
    "Hi team!!! 🎉 The launch moved to Friday. Please update the plan! 🚀",
    "Great news!!! The budget was approved 😀. We start hiring next week!",
    "Quick update 🎉: the server migration is done! Downtime was ten minutes.",
    "Thanks all!!! The workshop notes are in the shared folder 📁. See you Monday!",
    "Heads up! 🚨 The office is closed on Thursday. Work from home that day!",
    "Amazing work!!! 🎉 Sales grew by twelve percent this quarter. Keep it up!",
    "Reminder ⏰: reviews are due Friday! Send yours to Priya by noon!",
    "Welcome aboard, Sam! 👋 Your laptop arrives Monday. IT will set it up!",
]


def edits() -> list[tuple[str | None, str, str]]:
    remove = [{"op": "remove_emojis"}, {"op": "remove_exclamations"}]
    items: list[tuple[str | None, str, str]] = [
        ("Team update email", d, ops.apply_all(remove, d)) for d in DRAFTS
    ]
    items.append(("Accepted draft", "Fine as it is.", "Fine as it is."))
    return items


def test_pairs_from_edits_prefer_the_final_and_randomize_placement() -> None:
    items = edits()
    pairs = icai.pairs_from_edits(items, seed=0)
    assert len(pairs) == len(DRAFTS)  # the accepted draft states no preference
    for (context, draft, final), pair in zip(items, pairs, strict=False):
        assert pair.chosen == final and pair.rejected == draft and pair.context == context
    assert {p.preferred for p in pairs} == {"a", "b"}
    assert pairs == icai.pairs_from_edits(items, seed=0)
    others = [icai.pairs_from_edits(items, seed=s) for s in range(1, 6)]
    assert any([p.preferred for p in o] != [p.preferred for p in pairs] for o in others)
    # An edit keeps its placement whatever else is in the list.
    assert icai.pairs_from_edits(items[3:4], seed=0)[0].preferred == pairs[3].preferred


def test_constitution_from_edits(embedder: SentenceTransformerEmbedder) -> None:
    pairs = icai.pairs_from_edits(edits())
    candidates = icai.generate_candidates(pairs)
    keys = {c.key for c in candidates}
    assert {"emoji=none", "exclamation=none"} <= keys
    assert all(c.text.startswith("Select the response that ") for c in candidates)
    constitution = icai.build_constitution(pairs, embedder=embedder)
    assert set(constitution.keys) == {"emoji=none", "exclamation=none"}
    assert constitution.agreement == 1.0
    best = constitution.principles[0]
    assert best.votes_against == 0 and best.relevance == 1.0
    # The constitution judges new pairs the way the user edits.
    new = Pair("All set for Tuesday! 🎉", "All set for Tuesday.", "b")
    assert icai.judge(constitution, new) == "b"
    flat = Pair("All set for Tuesday.", "All set for Tuesday.", "a")
    assert icai.judge(constitution, flat) is None
    assert icai.judge(constitution, flat, fallback=lambda p: "a") == "a"


def test_cluster_candidates_merges_duplicates_and_near_duplicates(
    embedder: SentenceTransformerEmbedder,
) -> None:
    texts = [
        "Select the response that avoids emojis",
        "Select the response that uses no emojis",
        "Select the response without any emoji",
        "Select the response that uses bullet points",
        "Select the response formatted as a bulleted list",
        "Select the response that is about the weather forecast",
        "Select the response that talks about rain and sunshine tomorrow",
    ]
    candidates = [Candidate(t, f"text:{i}", None) for i, t in enumerate(texts)]
    candidates += [Candidate("select the response that avoids emojis.", "text:dup", None)] * 2
    merged = icai.merge_duplicates(candidates)
    assert len(merged) == len(texts)
    assert merged[0].count == 3  # case, spacing and the final period do not matter
    kept = icai.cluster_candidates(candidates, embedder, n_clusters=3, seed=0)
    assert len(kept) == 3
    topics = [("emoji" in k.text, "bullet" in k.text) for k in kept]
    assert sorted(topics) == [(False, False), (False, True), (True, False)]
    assert sum(k.count for k in kept) == len(candidates)
    assert kept[0].count == 5  # the emoji cluster: three duplicates and two paraphrases
    assert kept == icai.cluster_candidates(candidates, embedder, n_clusters=3, seed=0)
    # An executable duplicate wins over an LLM-only one of the same wording.
    test = {"op": {"op": "remove_emojis"}}
    exact = Candidate("Select the response that avoids emojis", "emoji=none", test)
    assert icai.merge_duplicates([candidates[0], exact])[0].test == exact.test


def test_select_principles_applies_the_paper_rules() -> None:
    pairs = [Pair(f"a{i}", f"b{i}", "a" if i % 2 else "b") for i in range(40)]
    right: list[icai.Vote] = [p.preferred for p in pairs]
    wrong: list[icai.Vote] = ["b" if v == "a" else "a" for v in right]
    rows: dict[str, list[icai.Vote]] = {
        "strong": right,  # 40 for
        "half": right[:20] + [None] * 20,  # 20 for
        "rare": right[:3] + [None] * 37,  # relevant on 7.5% < 10%
        "against": wrong,  # never agrees
        "even": right[:10] + wrong[10:20] + [None] * 20,  # for == against
        "close": right[:13] + wrong[13:20] + [None] * 20,  # 13 vs 7: chance at 95%
    }
    votes = Votes([Candidate(k, k, None) for k in rows], list(rows.values()))
    kept = icai.select_principles(votes, pairs)
    assert [r.key for r in kept] == ["strong", "half"]
    assert (kept[1].votes_for, kept[1].votes_against, kept[1].relevant) == (20, 0, 20)
    assert kept[1].relevance == 0.5 and kept[1].net == 20
    plain = icai.select_principles(votes, pairs, confidence=0)
    assert [r.key for r in plain] == ["strong", "half", "close"]
    assert [r.key for r in icai.select_principles(votes, pairs, max_principles=1)] == ["strong"]
    loose = icai.select_principles(votes, pairs, min_relevance=0.05, confidence=0)
    assert "rare" in [r.key for r in loose]


def test_agreement_counts_abstentions_as_half() -> None:
    pairs = [Pair("x", "y", "a"), Pair("x", "y", "b"), Pair("x", "y", "a"), Pair("x", "y", "b")]
    assert icai.agreement(lambda p: p.preferred, pairs) == 1.0
    assert icai.agreement(lambda p: None, pairs) == 0.5
    assert icai.agreement(lambda p: "a", pairs) == 0.5
    assert icai.agreement(lambda p: "a" if p.preferred == "a" else None, pairs) == 0.75
    with pytest.raises(ValueError):
        icai.agreement(lambda p: "a", [])


def test_constitution_round_trips_and_rejects_unknown_tests(
    embedder: SentenceTransformerEmbedder,
) -> None:
    constitution = icai.build_constitution(icai.pairs_from_edits(edits()), embedder=embedder)
    data = json.loads(json.dumps(constitution.to_dict()))
    assert Constitution.from_dict(data) == constitution
    data["principles"][0]["test"] = {"op": {"op": "rm -rf"}}
    with pytest.raises(InvalidInputError):
        Constitution.from_dict(data)
    data["principles"][0]["test"] = {"feature": "__class__", "direction": "more"}
    with pytest.raises(InvalidInputError):
        Constitution.from_dict(data)
    with pytest.raises(InvalidInputError):
        icai.build_constitution([], embedder=embedder)
    with pytest.raises(ValueError):
        icai.build_constitution(icai.pairs_from_edits(edits()), embedder=embedder, n_cluster=3)


def test_principles_without_a_test_need_an_llm() -> None:
    pairs = [Pair("x!", "y", "b")]
    with pytest.raises(UnavailableError, match="needs an LLM"):
        icai.test_principles([Candidate("Select the response that is kind", "k", None)], pairs)


# -- ICAI's CSV format ------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_icai_csv(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "index,text_a,text_b,preferred_text,model_a,model_b,input\n"
        '0,"A story.\nWith two lines.","Another story.",text_a,X,Y,"Write a story."\n'
        '1,"Short.","Longer, with ""quotes"".",text_b,X,Y,\n',
    )
    pairs = csvfile.read_icai_csv(path)
    assert pairs == [
        Pair("A story.\nWith two lines.", "Another story.", "a", "Write a story.", "0"),
        Pair("Short.", 'Longer, with "quotes".', "b", None, "1"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("text_a,text_b,preferred_text\nx,y,text_a\nx,y,b\n", r"row 2 \(line 3\).*'b'"),
        ("text_a,text_b,preferred_text\nx,y,text_c\n", "row 1.*preferred_text"),
        ("text_a,text_b\nx,y\n", "missing column.*preferred_text"),
        ("text_a,text_b,preferred_text\nx,y,text_a,extra\n", "row 1.*more fields"),
        ("text_a,text_b,preferred_text\nx,y\n", "row 1.*fewer fields"),
        ("text_a,text_b,preferred_text\nx, ,text_a\n", "row 1.*text_b is empty"),
        ("text_a,text_b,preferred_text\n", "no rows"),
    ],
)
def test_read_icai_csv_rejects_bad_rows(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        csvfile.read_icai_csv(write(tmp_path, text))


def test_read_icai_csv_rejects_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read"):
        csvfile.read_icai_csv(tmp_path / "missing.csv")
    path = tmp_path / "latin1.csv"
    path.write_bytes("text_a,text_b,preferred_text\ncaf\xe9,x,text_a\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        csvfile.read_icai_csv(path)


# -- the LLM path: litellm against a scripted provider on 127.0.0.1 ---------------------------

EMOJI = re.compile("[\U0001f300-\U0001faff]")
NOISE_PRINCIPLE = "Select the response that sounds more confident"


def _between(prompt: str, label: str) -> str:
    match = re.search(rf"{label}:\n<<<\n(.*?)\n>>>", prompt, re.DOTALL)
    assert match, f"no {label!r} in the prompt"
    return match.group(1)


def _follows(rule: str, text: str) -> bool | None:
    if "emoji" in rule:
        return not EMOJI.search(text)
    if "question" in rule:
        return "?" in text
    if "hashtag" in rule:
        return "#" not in text
    return None


def icai_answer(prompt: str, mode: str) -> str:
    """What an annotator model would say to Tailor's ICAI prompts, deterministically."""
    if "Selected response:" in prompt:
        chosen, other = _between(prompt, "Selected response"), _between(prompt, "Other response")
        found = [NOISE_PRINCIPLE]
        if EMOJI.search(other) and not EMOJI.search(chosen):
            found.insert(0, "Select the response that avoids emojis")
        if "?" in chosen and "?" not in other:
            found.insert(0, "Select the response that ends with a question")
        if "#" in other and "#" not in chosen:
            found.insert(0, "Select the response that has no hashtags")
        answer = json.dumps({"principles": found})
        return answer  # the provider's "malformed" mode wraps it in prose
    a, b = _between(prompt, "Response A"), _between(prompt, "Response B")
    rules = re.findall(r"^(\d+)\. (.*)$", prompt.split("For each rule below")[1], re.MULTILINE)
    votes: dict[str, str] = {}
    for number, rule in rules:
        in_a, in_b = _follows(rule, a), _follows(rule, b)
        if in_a is None:
            votes[number] = "A"  # a position-biased guess: agrees with half the labels
        else:
            votes[number] = (
                "A" if in_a and not in_b else "B" if in_b and not in_a else "not relevant"
            )
    if mode == "missing":
        votes.pop("0")
    return json.dumps(votes)


class IcaiProvider(Provider):
    """The fake provider of tests/fakellm.py, answering ICAI's two prompts."""

    def answer(self, messages: Messages) -> str:
        return icai_answer(messages[-1]["content"], self.mode)


@pytest.fixture(scope="module")
def provider() -> IcaiProvider:
    return IcaiProvider()


@pytest.fixture(scope="module")
def llm(provider: IcaiProvider) -> Iterator[LiteLLMBackend]:
    with serve_provider(provider) as url:
        yield LiteLLMBackend("openai/fake", api_base=url, api_key="sk-x", retries=0)


def _messages_of(provider: IcaiProvider) -> list[Messages]:
    return [call["messages"] for call in provider.calls]


def test_llm_constitution(
    provider: IcaiProvider, llm: LiteLLMBackend, embedder: SentenceTransformerEmbedder
) -> None:
    provider.mode, provider.calls[:] = "ok", []
    pairs = icai_data.synthetic_pairs("orthogonal", 30, seed=1, noise=0.0)
    train, held_out = pairs[:24], pairs[24:]
    constitution = icai.build_constitution(
        train, embedder=embedder, llm=llm, offline_candidates=False
    )
    texts = [p.text for p in constitution.principles]
    assert sorted(texts) == [
        "Select the response that avoids emojis",
        "Select the response that ends with a question",
        "Select the response that has no hashtags",
    ]
    assert NOISE_PRINCIPLE not in texts  # proposed on every pair, right only by chance
    assert all(p.test is None and p.votes_against == 0 for p in constitution.principles)
    assert constitution.agreement == 1.0
    # One generation and one voting prompt per pair, all principles in each vote.
    prompts = [m[-1]["content"] for m in _messages_of(provider)]
    assert len(prompts) == 2 * len(train)
    assert sum("Selected response:" in p for p in prompts) == len(train)
    assert all(NOISE_PRINCIPLE in p for p in prompts if "For each rule below" in p)
    # The judge asks the LLM about principles it cannot test itself.
    provider.calls[:] = []
    assert icai.agreement(lambda p: icai.judge(constitution, p, llm), held_out) == 1.0
    assert len(provider.calls) == len(held_out)


def test_llm_candidates_join_the_executable_ones(
    provider: IcaiProvider, llm: LiteLLMBackend, embedder: SentenceTransformerEmbedder
) -> None:
    provider.mode = "ok"
    pairs = icai_data.synthetic_pairs("orthogonal", 24, seed=2, noise=0.0)
    constitution = icai.build_constitution(pairs, embedder=embedder, llm=llm)
    # Identical wordings merge into the executable principle, which then needs no LLM vote.
    assert {"emoji=none", "questions=more", "hashtags=none"} <= set(constitution.keys)
    assert constitution.agreement == 1.0


def test_malformed_llm_answers_raise(provider: IcaiProvider, llm: LiteLLMBackend) -> None:
    pair = icai_data.synthetic_pairs("orthogonal", 1, seed=0, noise=0.0)[0]
    provider.mode = "malformed"
    with pytest.raises(LLMError, match="malformed LLM answer") as caught:
        icai.generate_candidates([pair], llm)
    assert caught.value.code == "llm_malformed_output"
    provider.mode = "missing"
    principle = Candidate("Select the response that avoids emojis", "k", None)
    with pytest.raises(LLMError, match=r"rule numbers 0\.\.0"):
        icai.test_principles([principle], [pair], llm)
    provider.mode = "ok"


@pytest.mark.parametrize(
    "answer",
    [
        "not json",
        '["Select the response that is short"]',
        '{"principles": []}',
        '{"principles": "Select the response that is short"}',
        '{"principles": ["ok", 3]}',
        '{"principle": ["Select the response that is short"]}',
    ],
)
def test_parse_principles_is_strict(answer: str) -> None:
    with pytest.raises(LLMError):
        icai.parse_principles(answer)


def test_parse_votes() -> None:
    fenced = '```json\n{"0": "A", "1": "b", "2": "Not relevant"}\n```'
    assert icai.parse_votes(fenced, 3) == ["a", "b", None]
    for bad in ('{"0": "A"}', '{"0": "A", "1": "C"}', '{"0": "A", "1": "B", "2": "A"}', "A, B"):
        with pytest.raises(LLMError):
            icai.parse_votes(bad, 2)

"""Content principles offline for Inverse Constitutional AI (Findeis et al., arXiv 2406.06560).

The paper's orthogonal synthetic set plants content (which animal, colour and flavour the
preferred text mentions). These tests build their own data, postcards that name a city, a
fruit and a way of travelling, apart from ``replay.icai_eval``'s animals, colours and
flavours, plant preferences on the words, and check that ``learners.icai.lexical`` finds
them, tests them with its ``mentions`` test and proposes nothing from random labels.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any, Literal

import pytest
from fastapi.testclient import TestClient

from learners.backends.embeddings import SentenceTransformerEmbedder
from learners.icai import lexical
from learners.icai import method as icai
from learners.icai.method import Constitution, PrincipleResult
from learners.icai.pairs import Pair
from replay import icai_eval as icai_data
from store.errors import InvalidInputError

CITIES = ("Lisbon", "Oslo", "Vienna", "Kyoto", "Lima", "Dublin")
FRUITS = ("cherries", "plums", "figs", "apricots", "peaches", "lemons")
TRAVEL = ("train", "ferry", "bus", "bicycle", "tram")

CITY_LINES = (
    "Greetings from {city}, where the streets are busy until late.",
    "We spent three nights in {city} and walked everywhere.",
    "The old quarter of {city} is even prettier than the photos.",
    "Our hotel in {city} looks out over the river.",
    "Everyone says {city} is best in the spring.",
)
FRUIT_LINES = (
    "The market stalls were piled high with {fruit}.",
    "Breakfast came with a bowl of fresh {fruit}.",
    "A farmer gave us a bag of {fruit} for the road.",
    "I have never tasted {fruit} as sweet as these.",
)
OTHER_LINES = (
    "We took the {travel} out to the coast on the second day.",
    "Getting around by {travel} turned out to be easy.",
    "The museum was closed, so we sat in a park instead.",
    "Send our love to the neighbours.",
    "The weather has been kind to us so far.",
)


def postcard(rng: random.Random, city: str, fruit: str) -> str:
    lines = [rng.choice(CITY_LINES), rng.choice(FRUIT_LINES)]
    lines += rng.sample(OTHER_LINES, 2)
    rng.shuffle(lines)
    return " ".join(
        line.format(city=city, fruit=fruit, travel=rng.choice(TRAVEL)) for line in lines
    )


def postcard_pairs(n: int, seed: int, *, random_labels: bool = False) -> list[Pair]:
    """Half the pairs prefer Lisbon where the other card has Oslo; half prefer cherries
    to any other fruit. The rest of each card is drawn per card; 5% of labels flipped."""
    rng, labels = random.Random(f"postcards-{seed}"), random.Random(f"labels-{seed}")
    pairs = []
    for i in range(n):
        city, fruit = rng.choice(CITIES), rng.choice(FRUITS)
        if i % 2 == 0:
            good, bad = postcard(rng, "Lisbon", fruit), postcard(rng, "Oslo", fruit)
        else:
            other = rng.choice(FRUITS[1:])
            good, bad = postcard(rng, city, "cherries"), postcard(rng, city, other)
        preferred: Literal["a", "b"] = "a" if rng.random() < 0.5 else "b"
        a, b = (good, bad) if preferred == "a" else (bad, good)
        if random_labels or labels.random() < 0.05:
            preferred = "a" if labels.random() < 0.5 else "b"
        pairs.append(Pair(a, b, preferred, "A postcard home", f"card-{i}"))
    return pairs


def folded(terms: list[str]) -> set[str]:
    return {lexical.term_key(t) for t in terms}


def content_principles(constitution: Constitution) -> list[PrincipleResult]:
    return [
        p
        for p in constitution.principles
        if p.test is not None and p.test.get("kind") == "mentions"
    ]


# -- recovery ----------------------------------------------------------------------------


def test_planted_content_preferences_are_recovered(embedder: SentenceTransformerEmbedder) -> None:
    pairs = postcard_pairs(160, seed=0)
    train, held_out = pairs[:80], pairs[80:]
    constitution = icai.build_constitution(train, embedder=embedder)
    found = content_principles(constitution)
    # Exactly the two planted preferences, nothing else (no style, no other word).
    assert len(found) == len(constitution.principles) == 2, constitution.principles
    by_prefer = {frozenset(folded(p.test["prefer"])): p for p in found if p.test}
    city = by_prefer[frozenset({"lisbon"})]
    assert city.test is not None and folded(city.test["avoid"]) == {"oslo"}
    assert city.text == icai.PREFIX + "mentions Lisbon rather than Oslo"
    fruit = by_prefer[frozenset({"cherry"})]  # "cherries", plural folded
    assert fruit.test is not None and fruit.test["avoid"] == []
    assert fruit.text == icai.PREFIX + "mentions cherries"
    for p in found:
        assert p.votes_for >= 30 and p.votes_against <= 6, p
    # The constitution judges unseen cards as the annotator did.
    assert icai.agreement(lambda pair: icai.judge(constitution, pair), held_out) >= 0.9
    # Off: the offline method is blind to content, as before.
    blind = icai.build_constitution(train, embedder=embedder, max_lexical=0)
    assert content_principles(blind) == [] and blind.agreement < 0.7


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_preferences_yield_no_content_principle(
    seed: int, embedder: SentenceTransformerEmbedder
) -> None:
    planted = icai.build_constitution(postcard_pairs(80, seed), embedder=embedder)
    assert len(content_principles(planted)) == 2  # the same texts carry a findable signal
    shuffled = postcard_pairs(80, seed, random_labels=True)
    assert [(p.a, p.b) for p in shuffled] == [(p.a, p.b) for p in postcard_pairs(80, seed)]
    assert lexical.mine(shuffled, min_pairs=8) == []
    constitution = icai.build_constitution(shuffled, embedder=embedder)
    assert constitution.principles == [], constitution.principles


def test_mining_counts_consistent_contrast_not_frequent_words() -> None:
    pairs = postcard_pairs(80, seed=3)
    keys = [c.key for c in lexical.mine(pairs, min_pairs=8)]
    assert set(keys[:2]) == {"mentions=lisbon>oslo", "mentions=cherry"}, keys
    # Beyond them only fruits that lost to cherries and phrases around a planted word (true
    # of the data, and dropped by the selection: they explain no pair the two do not).
    rejected_fruits = {f"avoids={lexical.term_key(f)}" for f in FRUITS[1:]}
    for key in keys[2:]:
        words = set(key.split("=")[1].split())
        assert key in rejected_fruits or words & {"cherry", "lisbon", "oslo"}, keys
    # Function words the two cards share or not at random never become terms.
    assert not any(k.split("=")[1] in lexical.STOP_WORDS for k in keys)
    assert lexical.sign_test(10, 10) == pytest.approx(2**-10)
    assert lexical.sign_test(5, 10) == pytest.approx(0.623046875)


def test_evaluation_content_set_recovers_its_planted_mentions(
    embedder: SentenceTransformerEmbedder,
) -> None:
    row = icai_data.evaluate("content", 200, seed=0, embedder=embedder)
    assert row["recovered"] == row["planted"] == [m.key for m in icai_data.MENTIONS], row
    assert row["noise_kept"] == []
    assert row["agreement_constitution"] - row["agreement_default"] >= 0.35, row
    noise = icai_data.evaluate("random", 200, seed=0, embedder=embedder)
    assert noise["planted"] == [] and noise["principles"] == [], noise
    table = icai_data.format_table([row, noise])
    assert "| content |" in table and "mentions cat rather than dog" in table
    assert "| random |" in table


# -- the mentions test -----------------------------------------------------------------


def test_mentions_test_votes_and_abstains() -> None:
    city: dict[str, Any] = {"kind": "mentions", "prefer": ["Lisbon"], "avoid": ["Oslo"]}
    icai.check_test(city)

    def vote(test: dict[str, Any], a: str, b: str) -> str | None:
        return icai.test_vote(test, Pair(a, b, "a"))

    assert vote(city, "Two days in Lisbon.", "Two days in Oslo.") == "a"
    assert vote(city, "Two days in Oslo.", "Two days in Lisbon.") == "b"
    assert vote(city, "Lisbon again.", "Vienna again.") == "a"  # only one satisfies it
    assert vote(city, "Lisbon, then Oslo.", "Vienna.") is None  # names the avoided one too
    assert vote(city, "Vienna.", "Oslo.") is None  # neither names Lisbon
    assert vote(city, "Lisbon at dawn.", "Lisbon at dusk.") is None
    assert vote(city, "Lisbonian food.", "Oslo food.") is None  # whole words only
    fruit: dict[str, Any] = {"kind": "mentions", "prefer": ["cherry"], "avoid": []}
    assert vote(fruit, "Plums.", "Fresh CHERRIES!") == "b"  # case and plural folded
    phrase: dict[str, Any] = {"kind": "mentions", "prefer": [], "avoid": ["new york"]}
    assert vote(phrase, "A week in New-York.", "A week in York.") == "b"
    assert vote(phrase, "A new car in York.", "A week in Leeds.") is None


@pytest.mark.parametrize(
    "test",
    [
        {"kind": "mentions", "prefer": [], "avoid": []},
        {"kind": "mentions", "prefer": ["cat"]},
        {"kind": "mentions", "prefer": "cat", "avoid": []},
        {"kind": "mentions", "prefer": ["cat"], "avoid": ["cats"]},
        {"kind": "mentions", "prefer": ["a very long phrase"], "avoid": []},
        {"kind": "mentions", "prefer": ["!!!"], "avoid": []},
        {"kind": "mentions", "prefer": [3], "avoid": []},
        {"kind": "mentions", "prefer": ["cat"], "avoid": [], "extra": 1},
        {"kind": "regex", "pattern": ".*"},
    ],
)
def test_malformed_mentions_tests_are_refused(test: dict[str, Any]) -> None:
    icai.check_test({"kind": "mentions", "prefer": ["cat"], "avoid": ["dog", "New York"]})
    with pytest.raises(InvalidInputError, match="invalid principle test"):
        icai.check_test(test)


# -- storage -------------------------------------------------------------------------------


def test_stored_constitution_with_content_principles_loads_back(
    embedder: SentenceTransformerEmbedder,
) -> None:
    constitution = icai.build_constitution(postcard_pairs(80, seed=4), embedder=embedder)
    assert content_principles(constitution)
    data = json.loads(json.dumps(constitution.to_dict()))
    loaded = Constitution.from_dict(data)
    assert loaded == constitution
    pair = postcard_pairs(81, seed=5)[-1]
    assert icai.judge(loaded, pair) == icai.judge(constitution, pair)
    data["principles"][0]["test"] = {"kind": "mentions", "prefer": ["x" * 200], "avoid": []}
    with pytest.raises(InvalidInputError, match="invalid principle test"):
        Constitution.from_dict(data)


def test_content_principles_through_the_service(client: TestClient) -> None:
    for i, pair in enumerate(postcard_pairs(60, seed=6)):
        body = {"a": pair.a, "b": pair.b, "preferred": pair.preferred, "client_id": f"c{i}"}
        assert client.post("/v1/users/ana/pairs", json=body).status_code == 201
    started = client.post("/v1/users/ana/principles", json={"include_edits": False})
    assert started.status_code == 202
    deadline = time.monotonic() + 60
    while (job := client.get(f"/v1/jobs/{started.json()['id']}").json())["state"] not in {
        "done",
        "error",
    }:
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["state"] == "done", job
    read = client.get("/v1/users/ana/principles").json()
    keys = {p["stats"]["key"] for p in read["data"]}
    assert {"mentions=lisbon>oslo", "mentions=cherry"} <= keys, read
    texts = {p["text"] for p in read["data"]}
    assert "Write so that the text mentions Lisbon rather than Oslo." in texts

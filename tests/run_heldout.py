"""Run the held-out users (``tests/heldout_users.py``) through the replay agents.

Prints, per user, the late-round cost (rounds 21-40) of Tailor as % of no
learning and its worst 10-round window, as the zoo report does. A benchmark
to read, not a test: nothing here asserts a figure.

    .venv/bin/python -m tests.run_heldout [--rounds 40]
"""

from __future__ import annotations

import argparse
import random
import statistics

from learners.backends.embeddings import SentenceTransformerEmbedder
from learners.style.text import edit_distance
from replay.agents import Round, build_agent
from replay.corpus import Document
from replay.simulate import PrecomputedEmbedder
from replay.users import Latent
from tests.heldout_users import HELDOUT, HeldOutUser


def run(user: HeldOutUser, agent_name: str, embedder: object, rounds: int) -> list[int]:
    cases = [user.generate(random.Random(f"{user.name}:{n}")) for n in range(rounds)]
    agent = build_agent(agent_name, embedder)  # type: ignore[arg-type]
    costs = []
    try:
        for n, (context, draft, facts) in enumerate(cases):
            doc = Document(f"{user.name}-{n}", user.name, user.name, context)
            r = Round(n, doc, Latent(user.name, user.name, "", ()), context, draft)
            shown = agent.propose(r)
            final = user.edit(shown, facts, random.Random(f"{user.name}:{n}:edit"))
            costs.append(edit_distance(shown, final))
            agent.observe(r, shown, final)
    finally:
        agent.close()
    return costs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    contexts = [
        u.generate(random.Random(f"{u.name}:{n}"))[0] for u in HELDOUT for n in range(args.rounds)
    ]
    embedder = PrecomputedEmbedder(SentenceTransformerEmbedder(), contexts)
    half, lates = args.rounds // 2, []
    print("| user | none | tailor | late % | worst 10-round window % |")
    print("|---|---|---|---|---|")
    for user in HELDOUT:
        none = run(user, "none", embedder, args.rounds)
        mine = run(user, "tailor", embedder, args.rounds)
        late = 100 * sum(mine[half:]) / max(sum(none[half:]), 1)
        window = max(
            100 * sum(mine[i : i + 10]) / max(sum(none[i : i + 10]), 1)
            for i in range(args.rounds - 9)
        )
        lates.append(late)
        print(f"| {user.name} | {sum(none)} | {sum(mine)} | {late:.1f}% | {window:.1f}% |")
    under = sum(v <= 30 for v in lates)
    print(
        f"\nunder 30%: {under} of {len(lates)}; median {statistics.median(lates):.1f}%; "
        f"worst {max(lates):.1f}%"
    )


if __name__ == "__main__":
    main()

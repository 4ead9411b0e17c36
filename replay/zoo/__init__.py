"""A zoo of simulated users written apart from the learners (issue 12).

The PRELUDE rule users (``replay/users.py``) are built from the learners' own
operations, so they speak the language the learners search. The zoo's users
do not: each is a short text transformation in plain string and regex code
(``replay.zoo.users``, ``replay.zoo.mixed``) on drafts from seeded generators
of five domains (``replay.zoo.domains``), and nothing in this package imports
``learners/`` or ``replay/users.py``. ``replay.zoo.report`` turns per-user
costs into the zoo's table and plot; ``replay.simulate.simulate_zoo`` runs it.

    tailor replay simulate --users zoo --rounds 40 --out runs/zoo
"""

from __future__ import annotations

from replay.zoo import mixed as _mixed  # noqa: F401  (registers the harder users)
from replay.zoo.domains import Case, case
from replay.zoo.users import ZOO, ZooUser
from store.errors import InvalidInputError

__all__ = ["ZOO", "Case", "ZooUser", "case", "find"]


def find(names: list[str] | None = None) -> list[ZooUser]:
    """The named users (all when ``names`` is None), in the zoo's order."""
    if names is None:
        return list(ZOO)
    known = {u.name: u for u in ZOO}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInputError(
            f"unknown zoo user(s) {', '.join(unknown)}: known are {', '.join(known)}"
        )
    return [known[n] for n in names]

"""The scope evaluation set (replay/data/scope/) loads, is as large as issue 13 asks, and
keeps its dev and test domains apart."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from replay import scope_data

ROOT = Path(__file__).resolve().parent.parent


def test_the_set_is_as_large_as_asked() -> None:
    domains = scope_data.load("all")
    feedbacks = [f for d in domains for f in d.feedbacks]
    assert len(domains) >= 24
    assert len(feedbacks) >= 72
    assert all(len(d.feedbacks) >= 3 for d in domains)
    assert all(len(d.in_scope) == len(d.near_scope) == len(d.out_of_scope) == 6 for d in domains)
    # about one feedback in ten is user-wide; most name their scope or were said in one
    assert 0.05 <= sum(not f.scoped for f in feedbacks) / len(feedbacks) <= 0.15
    assert any(f.said_in for f in feedbacks if f.scoped)


def test_dev_and_test_split_by_domain() -> None:
    dev, test = scope_data.load("dev"), scope_data.load("test")
    assert {d.split for d in dev} == {"dev"} and {d.split for d in test} == {"test"}
    assert not {d.id for d in dev} & {d.id for d in test}
    assert 0.3 <= len(dev) / (len(dev) + len(test)) <= 0.5
    assert [d.id for d in scope_data.load("all")] == [d.id for d in dev + test]


def test_no_context_appears_twice() -> None:
    contexts = [
        c.casefold()
        for d in scope_data.load("all")
        for c in (*d.in_scope, *d.near_scope, *d.out_of_scope)
    ]
    assert len(contexts) == len(set(contexts))


def test_an_unknown_split_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown split"):
        scope_data.load("train")  # type: ignore[arg-type]


def test_the_files_ship_with_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["replay"]
    shipped = {p.name for pattern in patterns for p in (ROOT / "replay").glob(pattern)}
    assert {"dev.json", "test.json"} <= shipped

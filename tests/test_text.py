from hypothesis import given
from hypothesis import strategies as st

from learners.style.text import edit_distance, normalize, word_tokens


def reference_distance(a: list[str], b: list[str]) -> int:
    """Textbook dynamic programme, to check the C-backed one against."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def test_tokens_are_words_and_punctuation() -> None:
    assert word_tokens("Hi, Dana! It's 5pm.") == [
        "Hi",
        ",",
        "Dana",
        "!",
        "It",
        "'",
        "s",
        "5pm",
        ".",
    ]


def test_distance_counts_word_edits_not_characters() -> None:
    assert edit_distance("the meeting is Tuesday", "the meeting is Tuesday") == 0
    assert edit_distance("the meeting is Tuesday", "the meeting is on Tuesday") == 1
    assert edit_distance("Hey boss!", "Hello Maria,") == 3
    assert edit_distance("", "one two three") == 3


words = st.lists(st.sampled_from(["a", "b", "c", "dog", ",", "!", "the"]), max_size=12)


@given(words, words)
def test_distance_matches_reference(a: list[str], b: list[str]) -> None:
    draft, final = " ".join(a), " ".join(b)
    expected = reference_distance(word_tokens(draft), word_tokens(final))
    assert edit_distance(draft, final) == expected
    assert edit_distance(final, draft) == expected


def test_normalize_merges_trivial_variants() -> None:
    assert normalize("  No emojis.  ") == normalize("no   EMOJIS")
    assert normalize("no emojis") != normalize("more emojis")

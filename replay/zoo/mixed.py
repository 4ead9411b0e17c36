"""The zoo's harder users: two kinds of context, habits that change midway, inconsistency.

- Two kinds of context with different habits for each (``split_sofia``,
  ``dual_dan``, ``two_tia``): all their rounds carry one task label, so only
  the context (retrieval) can tell which habits apply.
- A habit that changes halfway through the run (``switch_sven``,
  ``drift_dora``): they read the round counter (``case.number``).
- Inconsistent users (``coin_cole``, ``moody_mia``, ``noisy_nora``,
  ``flip_finn``): random, contradictory edits from the seeded ``rng`` of the
  round. A learner should not make them pay more than no learning does.

Written like ``replay.zoo.users``, with no import from ``learners/`` or
``replay/users.py``.
"""

from __future__ import annotations

import random
import re

from replay.zoo.domains import Case
from replay.zoo.text import all_sentences, cut, drop, listed, pull, split, swap
from replay.zoo.users import FILLER, HESITATE, HOPE, INTRO, OPENER, SORRY, approx, user

# -- two kinds of context ----------------------------------------------------------------


@user("email", "support")
def split_sofia(text: str, case: Case, rng: random.Random) -> str:
    """Emails: 'Dear <first>,', no 'I hope this email finds you well', signs 'Kind
    regards,' 'Sofia'. Support replies: 'Hi <first>,', no apology sentence, last line
    'Ref: #<ticket>', signs 'Cheers,' 'Sofia'.

    Writes to partners and answers customers from the same account.
    """
    f = case.facts
    if case.domain == "email":
        letter = split(drop(text, HOPE))
        letter.greeting = f"Dear {f['first']},"
        letter.signoff = ["Kind regards,", "Sofia"]
        return letter.text()
    letter = split(drop(text, SORRY))
    pull(letter, "ref:")
    letter.greeting = f"Hi {f['first']},"
    letter.body.append(f"Ref: #{f['ticket']}")
    letter.signoff = ["Cheers,", "Sofia"]
    return letter.text()


@user("report", "team")
def dual_dan(text: str, case: Case, rng: random.Random) -> str:
    """Reports: no intro or filler sentences, at most three findings as a numbered list.
    Team posts: no greeting or closing, 'and' -> '&', everything in lower case.

    Formal upwards, relaxed sideways.
    """
    if case.domain == "report":
        letter = split(drop(text, INTRO, FILLER))
        items = all_sentences(letter)[:3]
        letter.greeting = ""
        letter.body = [listed(items, "1.", period=True)] if items else []
        return letter.text()
    letter = split(text)
    letter.greeting, letter.signoff = "", []
    relaxed = swap(letter.text(), {"and": "&"}).lower()
    return relaxed


@user("summary", "email")
def two_tia(text: str, case: Case, rng: random.Random) -> str:
    """Summaries: first line 'TL;DR: ' + the first point, no opener sentence, at most
    three sentences. Emails: 'Hi <first>,', no 'do not hesitate' sentence, signs 'Best,'
    'Tia'.

    Summarises papers for herself and mails colleagues about them.
    """
    if case.domain == "summary":
        letter = split(drop(text, OPENER))
        pull(letter, "tl;dr")
        kept = all_sentences(letter)[:3]
        letter.body = [f"TL;DR: {kept[0]}", " ".join(kept)] if kept else []
        return letter.text()
    letter = split(drop(text, HESITATE))
    letter.greeting = f"Hi {case.facts['first']},"
    letter.signoff = ["Best,", "Tia"]
    return letter.text()


# -- habits that change midway -----------------------------------------------------------


@user("email")
def switch_sven(text: str, case: Case, rng: random.Random) -> str:
    """First half of the run: 'Hello <first>,' and signs 'Best,' 'Sven'. From the middle
    round on: 'Hey <first>,', signs 'Cheers,' 'Sven', no 'I hope this email finds you
    well'. Always: 'utilize' -> 'use'.

    Moved to a startup halfway through.
    """
    first = case.facts["first"]
    late = case.number >= case.rounds // 2
    text = swap(text, {"utilize": "use", "utilizing": "using"})
    if late:
        text = drop(text, HOPE)
    letter = split(text)
    letter.greeting = f"Hey {first}," if late else f"Hello {first},"
    letter.signoff = ["Cheers,", "Sven"] if late else ["Best,", "Sven"]
    return letter.text()


@user("team")
def drift_dora(text: str, case: Case, rng: random.Random) -> str:
    """First half: every sentence as a '- ' bullet, greeting kept. From the middle round
    on: at most three '* ' bullets, no greeting, 'approximately N' -> '~N'. Always: no
    closing line.

    Her team switched chat tools and conventions mid-quarter.
    """
    late = case.number >= case.rounds // 2
    letter = split(text)
    letter.signoff = []
    items = all_sentences(letter)
    if late:
        letter.greeting = ""
        items = [approx(s) for s in items[:3]]
    letter.body = [listed(items, "*" if late else "-", period=True)] if items else []
    return letter.text()


# -- inconsistent users ------------------------------------------------------------------


@user("email", consistent=False)
def coin_cole(text: str, case: Case, rng: random.Random) -> str:
    """Inconsistent: a coin adds 'Hi <first>,' or removes the greeting; one of three
    sign-offs (or none) at random; 'use' -> 'utilize' or the reverse, at random.

    Edits by mood; no learner can predict him.
    """
    letter = split(text)
    letter.greeting = f"Hi {case.facts['first']}," if rng.random() < 0.5 else ""
    letter.signoff = rng.choice([["Best,", "Cole"], ["Cheers,", "Cole"], ["— C."], []])
    text = letter.text()
    if rng.random() < 0.5:
        return swap(text, {"utilize": "use", "utilizing": "using"})
    return swap(text, {"use": "utilize", "using": "utilizing"})


@user("report", consistent=False)
def moody_mia(text: str, case: Case, rng: random.Random) -> str:
    """Inconsistent: keeps a random 2 to 5 sentences; as prose, '- ' bullets or a
    numbered list at random; drops the intro or not; 'approximately' -> 'about' or the
    reverse.

    Rewrites reports differently every week.
    """
    if rng.random() < 0.5:
        text = drop(text, INTRO, FILLER)
    letter = split(text)
    items = all_sentences(letter)[: rng.randint(2, 5)]
    style = rng.choice(["prose", "-", "1."])
    body = " ".join(items) if style == "prose" else listed(items, style, period=True)
    if rng.random() < 0.5:
        body = approx(body, "about ")
    else:
        body = re.sub(r"(?i)\babout (?=\d)", "approximately ", body)
    letter.body = [body] if body else []
    return letter.text()


@user("support", consistent=False)
def noisy_nora(text: str, case: Case, rng: random.Random) -> str:
    """Inconsistent: each of help/assist, issue/problem, check/verify, restart/reboot
    swapped one way, the other or not at all; an '!' added to the last sentence or all
    '!' removed; the greeting dropped now and then.

    Contradicts her own edits from one reply to the next.
    """
    pairs = [("help", "assist"), ("issue", "problem"), ("check", "verify"), ("restart", "reboot")]
    for a, b in pairs:
        roll = rng.random()
        if roll < 0.35:
            text = swap(text, {a: b})
        elif roll < 0.7:
            text = swap(text, {b: a})
    letter = split(text)
    if rng.random() < 0.3:
        letter.greeting = ""
    body = "\n\n".join(letter.body)
    body = re.sub(r"[.!]*\Z", "!", body, count=1) if rng.random() < 0.5 else body.replace("!", ".")
    letter.body = [body] if body.strip(".!") else []
    return letter.text()


@user("team", consistent=False)
def flip_finn(text: str, case: Case, rng: random.Random) -> str:
    """Inconsistent: sometimes all lower case; '&' -> 'and' or the reverse; one random
    sentence deleted now and then; one of three greetings at random.

    Never edits the same way twice.
    """
    letter = split(text)
    letter.greeting = rng.choice(["Hey team!", "hi all,", ""])
    found = all_sentences(letter)
    if found and rng.random() < 0.5:
        found.pop(rng.randrange(len(found)))
    body = " ".join(cut(s) for s in found)
    body = swap(body, {"and": "&"}) if rng.random() < 0.5 else body.replace("&", "and")
    letter.body = [body] if body else []
    text = letter.text()
    return text.lower() if rng.random() < 0.3 else text

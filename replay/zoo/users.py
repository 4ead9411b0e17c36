"""The zoo's consistent users, one domain each: plain text transformations.

Each user is a function ``(shown text, case, rng) -> the text the user keeps``,
written the way an editor with a few habits would fix a draft, in string and
regex code of its own (``replay.zoo.text``): nothing here comes from
``learners/`` or ``replay/users.py`` (issue 12, checked by ``tests/test_zoo.py``).
The first paragraph of each docstring lists the user's habits. Users read the
values the context names (``case.facts``: names, ticket ids, dates) for
greetings and reference lines, and copy summary lines from the text itself. A
user is idempotent: a text that already has its habits is kept as is.

    tailor replay simulate --users zoo --rounds 40 --out runs/zoo
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from replay.zoo.domains import Case
from replay.zoo.text import Letter, all_sentences, cut, drop, listed, pull, sentences, split, swap

Edit = Callable[[str, Case, random.Random], str]

HOPE = r"i hope (this|my) (email|message|note) finds you well"
HESITATE = r"please (do not|don't) hesitate to (contact me|reach out)( if you have any questions)?"
INTRO = r"this report covers (several|some|the) findings from the (past|last) week"
FILLER = r"overall, the (period|week) showed a mix of progress and open issues"
SORRY = r"we (apologize|are sorry) for any inconvenience( this may have caused)?"
THANKS = r"thank you for contacting (support|us)"
THOUGHTS = r"let me know if you have any (thoughts|questions)"
OPENER = r"this (document|text) (discusses|is about) [^.!?\n]*"


@dataclass(frozen=True)
class ZooUser:
    """A simulated user: its name, the domains its contexts come from, its edit."""

    name: str
    domains: tuple[str, ...]
    edit: Edit
    consistent: bool = True

    @property
    def habits(self) -> str:
        """The first paragraph of the edit's docstring, on one line."""
        doc = (self.edit.__doc__ or "").strip().split("\n\n")[0]
        return " ".join(doc.split())

    @property
    def task(self) -> str:
        """One task label for all its rounds: contexts, not the label, must tell kinds apart."""
        return self.domains[0] if len(self.domains) == 1 else "writing"

    def __call__(self, text: str, case: Case, rng: random.Random) -> str:
        return self.edit(text, case, rng)


#: every user of the zoo, in the order they are defined (``replay.zoo.mixed`` adds its own)
ZOO: list[ZooUser] = []


def user(*domains: str, consistent: bool = True) -> Callable[[Edit], Edit]:
    """Register the decorated edit as a zoo user named after the function."""

    def register(edit: Edit) -> Edit:
        ZOO.append(ZooUser(edit.__name__, domains, edit, consistent))
        return edit

    return register


def approx(text: str, sign: str = "~") -> str:
    """'approximately 40%' -> '~40%' (or 'about 40%' with ``sign="about "``)."""
    return re.sub(r"(?i)\bapproximately (?=\d)", sign, text)


# -- formal emails -----------------------------------------------------------------------


@user("email")
def formal_fiona(text: str, case: Case, rng: random.Random) -> str:
    """First line 'Attn: <role>, <org>' and 'Dear <first> <last>,' from the context; no 'I
    hope this email finds you well'; utilize -> use, in order to -> to; no exclamation
    marks; signs 'Kind regards,' 'Fiona'.

    The formal correspondent: an addressee line, plain verbs, a calm tone.
    """
    f = case.facts
    text = re.sub(r"(?im)^attn:.*$", "", text)
    text = drop(text, HOPE)
    text = swap(text, {"utilize": "use", "utilizing": "using", "in order to": "to"})
    letter = split(text)
    letter.greeting = f"Dear {f['first']} {f['last']},"
    letter.body = [re.sub(r"!+", ".", p) for p in letter.body]
    letter.signoff = ["Kind regards,", "Fiona"]
    return f"Attn: {f['role']}, {f['org']}\n\n{letter.text()}"


@user("email")
def brisk_ben(text: str, case: Case, rng: random.Random) -> str:
    """'Hi <first>,'; no 'hope this finds you well' and no 'do not hesitate' sentences;
    'I think' and 'perhaps' cut; at most three body sentences in one paragraph; signs '— Ben'.

    Busy, reads on a phone: short mails, no ceremony.
    """
    text = drop(text, HOPE, HESITATE)
    letter = split(text)
    kept = [cut(s, "i think", "perhaps") for s in all_sentences(letter)][:3]
    letter.greeting = f"Hi {case.facts['first']},"
    letter.body = [" ".join(kept)] if kept else []
    letter.signoff = ["— Ben"]
    return letter.text()


@user("email")
def hedgeless_hana(text: str, case: Case, rng: random.Random) -> str:
    """'Hello <first>,'; hedges cut (I think, perhaps, maybe, just); 'approximately N' ->
    '~N'; '!' -> '.'; signs 'Best,' 'Hana'.

    States things plainly and never sounds unsure.
    """
    letter = split(text)
    body = []
    for paragraph in letter.body:
        kept = [cut(s, "i think", "perhaps", "maybe", "just") for s in sentences(paragraph)]
        body.append(re.sub(r"!+", ".", approx(" ".join(kept))))
    letter.greeting = f"Hello {case.facts['first']},"
    letter.body = [b for b in body if b]
    letter.signoff = ["Best,", "Hana"]
    return letter.text()


@user("email")
def ref_raj(text: str, case: Case, rng: random.Random) -> str:
    """First body line 'Ref: <code>, <date>' from the context; contractions (do not, we
    are, I am, we will, it is); no 'do not hesitate' sentence; 'Hello <first>,'; signs
    'Thanks,' 'Raj'.

    Files every mail by its project code and meeting date.
    """
    f = case.facts
    text = drop(text, HESITATE)
    text = swap(
        text,
        {"do not": "don't", "we are": "we're", "i am": "I'm", "we will": "we'll", "it is": "it's"},
    )
    letter = split(text)
    pull(letter, "ref:")
    letter.greeting = f"Hello {f['first']},"
    letter.body.insert(0, f"Ref: {f['code']}, {f['date']}")
    letter.signoff = ["Thanks,", "Raj"]
    return letter.text()


# -- status reports ----------------------------------------------------------------------


@user("report")
def tldr_tara(text: str, case: Case, rng: random.Random) -> str:
    """First line 'TL;DR: ' + the report's first finding (copied from the text); no 'This
    report covers…' intro and no 'Overall, the period…' filler; 'approximately N' -> '~N';
    no greeting.

    Wants the one thing to know on top.
    """
    text = drop(text, INTRO, FILLER)
    letter = split(text)
    pull(letter, "tl;dr")
    letter.greeting = ""
    letter.body = [approx(p) for p in letter.body]
    points = all_sentences(letter)
    if points:
        letter.body.insert(0, f"TL;DR: {points[0]}")
    return letter.text()


@user("report")
def bullets_bo(text: str, case: Case, rng: random.Random) -> str:
    """Header line 'Week of <date>' from the context; findings as '- ' bullets, at most
    four, no end period; no intro or filler sentences; no greeting.

    Skims reports as lists.
    """
    text = drop(text, INTRO, FILLER)
    letter = split(text)
    pull(letter, "week of")
    items = all_sentences(letter)[:4]
    letter.greeting = ""
    letter.body = [f"Week of {case.facts['date']}"] + ([listed(items)] if items else [])
    return letter.text()


@user("report")
def numbered_nia(text: str, case: Case, rng: random.Random) -> str:
    """Title line '<PROJECT> (<code>) STATUS' in capitals from the context; at most three
    findings as a numbered list; 'and' -> '&'; no intro or filler sentences.

    Numbers everything so the team can answer by item.
    """
    f = case.facts
    text = drop(text, INTRO, FILLER)
    letter = split(text)
    title = f"{f['project']} ({f['code']}) STATUS".upper()
    pull(letter, title)
    items = [swap(s, {"and": "&"}) for s in all_sentences(letter)][:3]
    letter.greeting = ""
    letter.body = [title] + ([listed(items, "1.", period=True)] if items else [])
    return letter.text()


@user("report")
def plain_pete(text: str, case: Case, rng: random.Random) -> str:
    """Jargon out: leverage -> use, circle back -> follow up, going forward -> from now on,
    week over week -> weekly; no filler sentence; at most four sentences; last line
    'Owner: <owner>' from the context.

    Allergic to management speak.
    """
    text = drop(text, FILLER)
    text = swap(
        text,
        {"leverage": "use", "circle back": "follow up", "going forward": "from now on",
         "week over week": "weekly"},
    )  # fmt: skip
    letter = split(text)
    pull(letter, "owner:")
    kept = all_sentences(letter)[:4]
    letter.body = ([" ".join(kept)] if kept else []) + [f"Owner: {case.facts['owner']}"]
    return letter.text()


# -- support replies ---------------------------------------------------------------------


@user("support")
def support_sam(text: str, case: Case, rng: random.Random) -> str:
    """'Hi <first>,' from the ticket; no 'We apologize for any inconvenience…' sentence;
    'Thank you for contacting support' -> 'Thanks for reaching out'; 'Ref: #<ticket>' as
    the last line; signs 'Cheers,' 'Sam'.

    The support agent of issue 12: names the customer, files the ticket.
    """
    f = case.facts
    text = drop(text, SORRY)
    text = swap(text, {THANKS: "Thanks for reaching out"})
    letter = split(text)
    pull(letter, "ref:")
    letter.greeting = f"Hi {f['first']},"
    letter.body.append(f"Ref: #{f['ticket']}")
    letter.signoff = ["Cheers,", "Sam"]
    return letter.text()


@user("support")
def warm_wendy(text: str, case: Case, rng: random.Random) -> str:
    """'Hello <first>,'; opens with 'Sorry to hear that <issue>.' from the ticket; no
    'Thank you for contacting support' sentence; speaks as I, not we (we -> I, our -> my,
    us -> me); signs 'Best wishes,' 'Wendy'.

    Personal, first person, acknowledges the problem first.
    """
    f = case.facts
    text = drop(text, THANKS)
    letter = split(text)
    sorry = f"Sorry to hear that {f['issue']}."
    rest = " ".join(s for s in all_sentences(letter) if s != sorry)
    rest = swap(rest, {"we are": "I am", "we're": "I'm", "we": "I", "our": "my", "us": "me"})
    letter.greeting = f"Hello {f['first']},"
    letter.body = [f"{sorry} {rest}".strip()]
    letter.signoff = ["Best wishes,", "Wendy"]
    return letter.text()


STEP = re.compile(r"(?i)^(please|try|you can|first|then|next|finally)\b")


@user("support")
def steps_sid(text: str, case: Case, rng: random.Random) -> str:
    """First line 'Ticket #<ticket> · <plan> plan' from the context; the steps (sentences
    starting Please, Try, You can) as a numbered list of at most three, after the prose;
    no 'We hope this helps' sentence; greeting and sign-off kept.

    Customers follow numbered steps; the rest is context.
    """
    f = case.facts
    text = drop(text, r"we hope this helps")
    letter = split(text)
    pull(letter, "ticket #")
    found = all_sentences(letter)
    steps = [s for s in found if STEP.match(s)][:3]
    prose = " ".join(s for s in found if not STEP.match(s))
    head = f"Ticket #{f['ticket']} · {f['plan']} plan"
    letter.body = [head, prose] + ([listed(steps, "1.", period=True)] if steps else [])
    return letter.text()


@user("support")
def casual_cara(text: str, case: Case, rng: random.Random) -> str:
    """'Hey <first>!'; contractions (we are, do not, it is, you will, we will); 'Please'
    cut from instructions; 'Thank you for contacting support' -> 'Thanks for the
    message!'; closes with a bare 'Cheers!'.

    Friendly and direct, like a chat.
    """
    text = swap(text, {THANKS: "Thanks for the message"})
    text = swap(
        text,
        {"we are": "we're", "do not": "don't", "it is": "it's", "you will": "you'll",
         "we will": "we'll"},
    )  # fmt: skip
    letter = split(text)
    body = []
    for paragraph in letter.body:
        body.append(" ".join(cut(s, "please") for s in sentences(paragraph)))
    text = "\n\n".join(body)
    letter.body = [re.sub(r"(?i)(thanks for the message)[.!]*", r"\1!", text)]
    letter.greeting, letter.signoff = f"Hey {case.facts['first']}!", ["Cheers!"]
    return letter.text()


# -- team posts --------------------------------------------------------------------------


@user("team")
def terse_tom(text: str, case: Case, rng: random.Random) -> str:
    """No greeting and no 'Thanks everyone' closing; no 'Let me know if you have any
    thoughts'; at most three sentences; 'and' -> '&', 'approximately N' -> '~N'; no '!'.

    Posts like a commit message.
    """
    text = drop(text, THOUGHTS)
    letter = split(text)
    kept = " ".join(all_sentences(letter)[:3])
    kept = approx(swap(kept, {"and": "&"}))
    letter.greeting, letter.signoff = "", []
    letter.body = [re.sub(r"!+", ".", kept)] if kept else []
    return letter.text()


@user("team")
def sprint_sue(text: str, case: Case, rng: random.Random) -> str:
    """'Hi <team> team,'; first line '[Sprint <n>] <topic>' and last line 'Due: <date>',
    both from the context; no 'Let me know if you have any thoughts'; no closing line.

    Tags every post so it can be found by sprint.
    """
    f = case.facts
    text = drop(text, THOUGHTS)
    letter = split(text)
    pull(letter, "[sprint")
    pull(letter, "due:")
    letter.greeting, letter.signoff = f"Hi {f['team']} team,", []
    tag = f"[Sprint {f['sprint']}] {f['topic'][:1].upper()}{f['topic'][1:]}"
    letter.body = [tag, *letter.body, f"Due: {f['date']}"]
    return letter.text()


@user("team")
def lower_leo(text: str, case: Case, rng: random.Random) -> str:
    """Everything in lower case; greeting 'hi all,'; no closing line; 'approximately' ->
    'about', 'pull requests' -> 'prs'.

    Types fast, never reaches for the shift key.
    """
    letter = split(text)
    letter.greeting, letter.signoff = "hi all,", []
    text = swap(letter.text(), {"approximately": "about", "pull requests": "prs"})
    lines = text.lower().split("\n")
    return "\n".join(lines)


@user("team")
def we_wes(text: str, case: Case, rng: random.Random) -> str:
    """Speaks for the team: I -> we, I'm -> we're, my -> our, me -> us; first line
    'Update for #<channel>:' from the context; no greeting and no closing; '!' -> '.'.

    Never 'I' in a team channel.
    """
    letter = split(text)
    pull(letter, "update for #")
    body = []
    for paragraph in letter.body:
        said = swap(paragraph, {"i'm": "we're", "i am": "we are", "my": "our", "me": "us"})
        said = re.sub(r"\bI\b", "we", said)
        body.append(" ".join(s[:1].upper() + s[1:] for s in sentences(said)))
    letter.greeting, letter.signoff = "", []
    letter.body = [f"Update for #{case.facts['channel']}:", *(re.sub(r"!+", ".", b) for b in body)]
    return letter.text()


# -- document summaries ------------------------------------------------------------------


@user("summary")
def tldr_tess(text: str, case: Case, rng: random.Random) -> str:
    """First line 'TL;DR: ' + the first point (copied from the text); no 'This document
    discusses…' opener; 'In conclusion,' cut (its sentence stays); at most three sentences.

    Summaries for people who read one line.
    """
    text = drop(text, OPENER)
    letter = split(text)
    pull(letter, "tl;dr")
    kept = [cut(s, "in conclusion") for s in all_sentences(letter)][:3]
    if not kept:
        return letter.text()
    return Letter(body=[f"TL;DR: {kept[0]}", " ".join(kept)]).text()


@user("summary")
def bullet_bianca(text: str, case: Case, rng: random.Random) -> str:
    """Points as '- ' bullets, at most four, each with its period; no 'This document
    discusses…' opener; 'In conclusion,' cut; last line 'Source: <author>, <date>' from
    the context.

    Keeps a reading log with sources.
    """
    f = case.facts
    text = drop(text, OPENER)
    letter = split(text)
    pull(letter, "source:")
    items = [cut(s, "in conclusion") for s in all_sentences(letter)][:4]
    body = [listed(items, "-", period=True)] if items else []
    return Letter(body=[*body, f"Source: {f['author']}, {f['date']}"]).text()


@user("summary")
def brief_quinn(text: str, case: Case, rng: random.Random) -> str:
    """Title line '"<title>" in brief' from the context; no opener sentence; 'In
    conclusion,' cut; at most two sentences; 'N%' -> 'N percent'.

    Two sentences under the title, numbers spelled the newspaper way.
    """
    text = drop(text, OPENER)
    letter = split(text)
    pull(letter, '"')
    kept = [cut(s, "in conclusion") for s in all_sentences(letter)][:2]
    prose = re.sub(r"(\d+)\s*%", r"\1 percent", " ".join(kept))
    title = f'"{case.facts["title"]}" in brief'
    return Letter(body=[title, prose] if prose else [title]).text()

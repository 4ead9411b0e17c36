"""Held-out simulated users for the rule learner: domains and words the zoo does not use.

Issue 12 asks that Tailor's rule mechanics generalize to users nobody tuned
them on. The zoo (``replay/zoo``) is the development set; these seven users
are a second, smaller check written apart from both the learners and the zoo:
meeting minutes, recipes, release notes, cover letters, incident reports,
event invitations and review digests. Each user is a seeded generator of
(context, draft, facts) plus an edit function in plain ``re`` and ``str``
code; nothing here imports ``learners/`` or ``replay/``. Drafts vary their
wording, and the boilerplate a user deletes comes with random casing and end
punctuation. ``tests/run_heldout.py`` runs them through the replay agents.

    .venv/bin/python -m tests.run_heldout
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

FIRST = [
    "Anouk",
    "Bram",
    "Carmen",
    "Dmitri",
    "Esme",
    "Farid",
    "Greta",
    "Hamid",
    "Ilse",
    "Joaquin",
    "Kofi",
    "Lotte",
    "Mateo",
    "Nora",
    "Oskar",
    "Paula",
    "Quentin",
    "Rhea",
]
LAST = [
    "Achterberg",
    "Bauer",
    "Castellano",
    "Duarte",
    "Eriksen",
    "Fontaine",
    "Gallo",
    "Hoekstra",
    "Iversen",
    "Jovanovic",
    "Keller",
    "Lambert",
    "Mendes",
    "Nilsen",
]
MONTHS = ["March", "April", "May", "June", "July", "August", "September"]

Gen = Callable[[random.Random], tuple[str, str, dict[str, str]]]
Edit = Callable[[str, dict[str, str], random.Random], str]


@dataclass(frozen=True)
class HeldOutUser:
    name: str
    generate: Gen
    edit: Edit


def noisy(rng: random.Random, sentence: str) -> str:
    """A boilerplate sentence in a random casing with a random ending."""
    roll = rng.random()
    if roll < 0.2:
        sentence = sentence.lower()
    elif roll < 0.3:
        sentence = sentence.upper()
    return sentence + rng.choice([".", "!", "!!", " ."])


def when(rng: random.Random) -> str:
    return f"{rng.choice(MONTHS)} {rng.randrange(1, 29)}"


def tidy(text: str) -> str:
    lines = [re.sub(r"[ \t]{2,}", " ", ln).strip() for ln in text.strip().split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return re.sub(r" +([.,!?;:])", r"\1", text).strip()


def remove(text: str, pattern: str) -> str:
    """Delete every sentence matching ``pattern`` (any case), with its end punctuation."""
    return tidy(re.sub(r"(?i)\s*" + pattern + r"\s*[.!]*", " ", text))


def blocks(text: str) -> list[str]:
    return [b.strip() for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]


def split_sentences(paragraph: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", paragraph.strip()) if s]


def without(lines: list[str], prefix: str) -> list[str]:
    return [ln for ln in lines if not ln.lower().startswith(prefix.lower())]


# -- meeting minutes -----------------------------------------------------------------------

MEETINGS = ["planning", "budget", "design review", "hiring", "roadmap", "retrospective"]
POINTS = [
    ["The group agreed to move the deadline by one week.", "Everyone agreed the deadline "
     "moves by a week."],
    ["Action item: {p} will draft the proposal.", "Action item: {p} drafts the proposal."],
    ["The vendor quote came in higher than expected.", "The quote from the vendor was "
     "higher than planned."],
    ["Action item: {q} checks the room booking.", "Action item: {q} will book the room."],
    ["Two options remain open for the launch date.", "The launch date still has two options."],
    ["The team will revisit the staffing plan next month.", "Staffing comes back next month."],
]  # fmt: skip


def meeting(rng: random.Random) -> tuple[str, str, dict[str, str]]:
    chair, day, kind = rng.choice(FIRST), when(rng), rng.choice(MEETINGS)
    p, q = rng.sample(FIRST, 2)
    facts = {"chair": chair, "date": day}
    context = f"Minutes of the {kind} meeting held {day}, chaired by {chair} {rng.choice(LAST)}."
    points = " ".join(rng.choice(v).format(p=p, q=q) for v in rng.sample(POINTS, 4))
    opener = noisy(rng, rng.choice(["Here are the notes from today's meeting",
                                    "Below are the notes from our meeting"]))  # fmt: skip
    closer = noisy(rng, "Thanks to everyone for attending")
    return context, tidy(f"{opener} {points} {closer}"), facts


def minutes_mo(text: str, f: dict[str, str], rng: random.Random) -> str:
    """'Minutes, <date>' on top; no 'notes from ... meeting' opener or 'Thanks ... for
    attending'; 'Action item:' -> 'TODO:'; last line 'Chair: <chair>'."""
    text = remove(text, r"(here|below) are the notes from (today's|our) meeting")
    text = remove(text, r"thanks to everyone for attending")
    text = re.sub(r"(?i)\baction item:", "TODO:", text)
    body = without(without(blocks(text), "minutes,"), "chair:")
    return tidy("\n\n".join([f"Minutes, {f['date']}", *body, f"Chair: {f['chair']}"]))


# -- recipes -------------------------------------------------------------------------------

DISHES = ["lentil soup", "apple crumble", "green curry", "banana bread", "tomato risotto"]
STEPS = [
    ["Add one tablespoon of oil to a warm pan.", "Warm one tablespoon of oil in a pan."],
    ["Stir in a teaspoon of salt.", "Season with a teaspoon of salt."],
    ["Simmer for twenty minutes.", "Let it simmer for twenty minutes."],
    ["Fold in the chopped herbs.", "Add the chopped herbs and fold gently."],
    ["Bake until golden on top.", "Bake until the top turns golden."],
    ["Serve warm with fresh bread.", "Serve it warm, with bread on the side."],
]


def recipe(rng: random.Random) -> tuple[str, str, dict[str, str]]:
    dish, serves, cook = rng.choice(DISHES), str(rng.randrange(2, 9)), rng.choice(FIRST)
    context = f"Write up {cook}'s recipe for {dish}; it serves {serves} people."
    steps = " ".join(rng.choice(v) for v in rng.sample(STEPS, rng.randrange(3, 6)))
    intro = noisy(rng, "This delicious recipe is perfect for any occasion")
    outro = noisy(rng, rng.choice(["Enjoy your meal", "Happy cooking"]))
    return context, tidy(f"{intro} {steps} {outro}"), {"serves": serves}


def chef_chloe(text: str, f: dict[str, str], rng: random.Random) -> str:
    """'Serves <n>' on top; no 'This delicious recipe...' or 'Enjoy'/'Happy cooking';
    tablespoon -> tbsp, teaspoon -> tsp; steps as a numbered list."""
    text = remove(text, r"this delicious recipe is perfect for any occasion")
    text = remove(text, r"(enjoy your meal|happy cooking)")
    text = re.sub(r"(?i)\btablespoon\b", "tbsp", re.sub(r"(?i)\bteaspoon\b", "tsp", text))
    body = without(blocks(text), "serves ")
    steps = [s for b in body for s in split_sentences(re.sub(r"(?m)^\d+\.\s*", "", b))]
    listed = "\n".join(f"{n}. {s}" for n, s in enumerate(steps, 1))
    return tidy(f"Serves {f['serves']}\n\n{listed}")


# -- release notes -------------------------------------------------------------------------

PRODUCTS = ["Orbit", "Lumen", "Quarry", "Tessera", "Vireo"]
CHANGES = [
    ["The export dialog now remembers the last folder.", "Exports remember the last folder."],
    ["Search results load faster on large projects.", "Large projects get faster search."],
    ["A crash on startup with empty settings is fixed.", "Startup no longer crashes on empty "
     "settings."],
    ["Dark mode covers the settings pages.", "The settings pages support dark mode."],
    ["Keyboard shortcuts can be changed.", "You can now remap keyboard shortcuts."],
]  # fmt: skip


def release(rng: random.Random) -> tuple[str, str, dict[str, str]]:
    product = rng.choice(PRODUCTS)
    version = f"{rng.randrange(1, 6)}.{rng.randrange(0, 20)}"
    context = f"Release notes for {product} {version}, shipped on {when(rng)}."
    changes = " ".join(rng.choice(v) for v in rng.sample(CHANGES, 3))
    intro = noisy(rng, rng.choice(["We are excited to announce this release",
                                   "We are thrilled to share this update"]))  # fmt: skip
    outro = noisy(rng, "As always, thank you for your continued support")
    facts = {"product": product, "version": version}
    return context, tidy(f"{intro} {changes} {outro}"), facts


def release_rita(text: str, f: dict[str, str], rng: random.Random) -> str:
    """Title '<product> <version>'; no 'We are excited/thrilled...' or 'As always...'
    sentences; the changes as '- ' bullets."""
    text = remove(text, r"we are (excited to announce this release|thrilled to share this update)")
    text = remove(text, r"as always, thank you for your continued support")
    title = f"{f['product']} {f['version']}"
    body = [b for b in blocks(text) if b != title]
    items = [s for b in body for s in split_sentences(re.sub(r"(?m)^-( |$)", "", b))]
    return tidy(title + "\n\n" + "\n".join(f"- {s}" for s in items))


# -- cover letters -------------------------------------------------------------------------

ROLES = ["data analyst", "backend developer", "product designer", "support lead"]
COMPANIES = ["Brightwell", "Kestrel Labs", "Marlowe", "Pinecrest", "Tidewater"]
CLAIMS = [
    ["I believe my experience with reporting fits this role.", "My experience with "
     "reporting fits this role well."],
    ["I led a small team through a platform migration.", "I guided a team of four through "
     "a migration."],
    ["I believe I learn new tools quickly.", "I pick up new tools quickly."],
    ["I enjoy working closely with customers.", "Working with customers is what I enjoy."],
]  # fmt: skip


def cover(rng: random.Random) -> tuple[str, str, dict[str, str]]:
    first, last, role = rng.choice(FIRST), rng.choice(LAST), rng.choice(ROLES)
    job = str(rng.randrange(1000, 9999))
    context = (
        f"Cover letter for the {role} opening at {rng.choice(COMPANIES)} (job {job}); "
        f"the hiring manager is {first} {last}."
    )
    claims = " ".join(rng.choice(v) for v in rng.sample(CLAIMS, 3))
    opener = noisy(rng, f"I am writing to apply for the {role} position")
    closer = noisy(rng, "Thank you for your time and consideration")
    draft = f"Dear Hiring Manager,\n\n{opener} {claims} {closer}\n\nSincerely,\nAlex"
    return context, tidy(draft), {"first": first, "last": last, "job": job}


def cover_carl(text: str, f: dict[str, str], rng: random.Random) -> str:
    """'Dear <first> <last>,'; 'Job <job>' as the last body line; 'I believe' cut;
    signs 'With best regards,' 'Carl'."""
    parts = blocks(text)
    body = [b for b in parts[1:-1] if not b.startswith("Job ")]
    prose = re.sub(r"\bI believe (\w)", lambda m: m.group(1).upper(), " ".join(body))
    return tidy(
        f"Dear {f['first']} {f['last']},\n\n{prose}\n\nJob {f['job']}\n\nWith best regards,\nCarl"
    )


# -- incident reports ----------------------------------------------------------------------

SERVICES = ["billing", "checkout", "search", "login", "notifications"]
EVENTS = [
    ["Unfortunately, error rates rose for about an hour.", "Unfortunately, errors rose for "
     "roughly an hour."],
    ["The on-call engineer rolled back the last deploy.", "A rollback of the last deploy "
     "followed."],
    ["Unfortunately, some requests were dropped.", "Some requests were unfortunately lost."],
    ["Monitoring now alerts earlier on queue growth.", "An earlier alert on queue growth is "
     "in place."],
    ["A config change caused the outage.", "The outage came from a config change."],
]  # fmt: skip


def incident(rng: random.Random) -> tuple[str, str, dict[str, str]]:
    sev, num = rng.choice(["SEV1", "SEV2", "SEV3"]), str(rng.randrange(100, 999))
    service = rng.choice(SERVICES)
    context = f"Incident report INC-{num}: {service} outage, severity {sev}, on {when(rng)}."
    events = " ".join(rng.choice(v) for v in rng.sample(EVENTS, 4))
    intro = noisy(rng, "This report describes what happened during the incident")
    return context, tidy(f"{intro} {events}"), {"sev": sev}


def incident_ivy(text: str, f: dict[str, str], rng: random.Random) -> str:
    """No 'This report describes...' intro; 'Unfortunately,' cut; 'Summary: ' + the first
    sentence on top; at most three sentences; last line 'Severity: <sev>'."""
    text = remove(text, r"this report describes what happened during the incident")
    body = without(without(blocks(text), "summary:"), "severity:")
    said = re.sub(r"\bUnfortunately, (\w)", lambda m: m.group(1).upper(), " ".join(body))
    said = re.sub(r" unfortunately\b", "", said)
    kept = split_sentences(said)[:3]
    if not kept:
        return text
    return tidy(f"Summary: {kept[0]}\n\n{' '.join(kept)}\n\nSeverity: {f['sev']}")


# -- event invitations ---------------------------------------------------------------------

GROUPS = ["Analytics", "Frontend", "Finance", "Research", "Sales"]
VENUES = ["the Atrium", "Room 4B", "the rooftop terrace", "the library"]
INVITE = [
    ["We would love to see you there! 🎉", "It would be great to see you! 🎉"],
    ["There will be snacks and drinks.", "Snacks and drinks are on us."],
    ["Bring a colleague if you like!", "Feel free to bring a colleague!"],
    ["The session starts with a short talk.", "We start with a short talk."],
]


def invite(rng: random.Random) -> tuple[str, str, dict[str, str]]:
    group, venue, day = rng.choice(GROUPS), rng.choice(VENUES), when(rng)
    context = f"Invite the {group} team to the quarterly social at {venue} on {day}."
    lines = " ".join(rng.choice(v) for v in rng.sample(INVITE, 3))
    draft = f"Hi everyone,\n\n{lines}\n\nCheers,\nThe Events Crew"
    return context, tidy(draft), {"group": group, "venue": venue, "date": day}


def invite_ian(text: str, f: dict[str, str], rng: random.Random) -> str:
    """'Hello <group> team,'; no emojis; '!' -> '.'; last body line 'Where: <venue>';
    signs 'See you there,' 'Ian'."""
    parts = blocks(text)
    body = [b for b in parts[1:-1] if not b.startswith("Where:")]
    said = re.sub(r"!+", ".", re.sub(r"\s*🎉", "", " ".join(body)))
    return tidy(f"Hello {f['group']} team,\n\n{said}\n\nWhere: {f['venue']}\n\nSee you there,\nIan")


# -- review digests ------------------------------------------------------------------------

ITEMS = ["Aero kettle", "Nimbus lamp", "Forge backpack", "Pebble speaker"]
OPINIONS = [
    ["Most customers praise the build quality.", "Customers like the build quality."],
    ["Several customers mention slow shipping.", "Some customers say shipping was slow."],
    ["The battery life gets mixed reviews.", "Reviews of the battery life are mixed."],
    ["A few customers found the manual unclear.", "The manual confused a few customers."],
    ["Many customers would buy it again.", "Many customers say they would buy again."],
]  # fmt: skip


def reviews(rng: random.Random) -> tuple[str, str, dict[str, str]]:
    item, score = rng.choice(ITEMS), f"{rng.randrange(2, 5)}.{rng.randrange(0, 10)}"
    context = f"Digest the reviews of the {item}, rated {score} out of 5 by buyers."
    said = " ".join(rng.choice(v) for v in rng.sample(OPINIONS, 4))
    lead = noisy(rng, "In this digest we summarize what customers are saying")
    return context, tidy(f"{lead} {said}"), {"score": score}


def _buyers(m: re.Match[str]) -> str:
    return "Buyers" if m.group(0)[0].isupper() else "buyers"


def digest_dora(text: str, f: dict[str, str], rng: random.Random) -> str:
    """'Rating: <score>/5' on top; no 'In this digest...' lead; customers -> buyers; at
    most three sentences."""
    text = remove(text, r"in this digest we summarize what customers are saying")
    text = re.sub(r"(?i)\bcustomers\b", _buyers, text)
    body = without(blocks(text), "rating:")
    kept = split_sentences(" ".join(body))[:3]
    return tidy(f"Rating: {f['score']}/5\n\n{' '.join(kept)}")


HELDOUT = [
    HeldOutUser("minutes_mo", meeting, minutes_mo),
    HeldOutUser("chef_chloe", recipe, chef_chloe),
    HeldOutUser("release_rita", release, release_rita),
    HeldOutUser("cover_carl", cover, cover_carl),
    HeldOutUser("incident_ivy", incident, incident_ivy),
    HeldOutUser("invite_ian", invite, invite_ian),
    HeldOutUser("digest_dora", reviews, digest_dora),
]

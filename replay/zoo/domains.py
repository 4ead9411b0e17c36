"""Seeded generators of contexts and base drafts for the zoo, one per domain.

Five domains (issue 12): formal emails, status reports, support replies, team
posts and document summaries. Each generator takes a ``random.Random`` and
returns a :class:`Case`: the context an app would send (who, what, ids,
dates), the draft a generic assistant would write for it, and the values the
context names (``facts``), which users copy into greetings and reference
lines. Drafts vary on purpose: several phrasings per sentence, random content,
names, ticket numbers and dates, and the boilerplate a user deletes comes with
varying punctuation and casing, so memorising literal text does not pay.

    python -c "from replay.zoo.domains import sample; print(sample('support', 3).draft)"
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

FIRST = [
    "Daniel", "Maria", "Priya", "Tom", "Chen", "Olga", "Ravi", "Lena", "Omar", "Kate",
    "Aisha", "Jonas", "Mei", "Lucas", "Noah", "Elif", "Marco", "Igor", "Zoe", "Felix",
    "Nadia", "Pablo", "Yuki", "Grace", "Tariq", "Ines", "Victor", "Amara", "Hugo", "Leila",
]  # fmt: skip
LAST = [
    "Brandt", "Okafor", "Silva", "Novak", "Tanaka", "Larsen", "Moreau", "Kowalski", "Haddad",
    "Fischer", "Costa", "Ivanova", "Nguyen", "Schmidt", "Rossi", "Kim", "Jensen", "Alvarez",
    "Petrov", "Dubois", "Murphy", "Sato", "Weber", "Kaur", "Lindqvist",
]  # fmt: skip
ROLES = [
    "project lead", "finance manager", "head of operations", "product owner", "procurement "
    "officer", "engineering manager", "HR partner", "legal counsel", "account director",
]  # fmt: skip
ORGS = ["Acme", "Northwind", "Globex", "Initech", "Hooli", "Vandelay", "Cyberdyne", "Tyrell"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


@dataclass(frozen=True)
class Case:
    """One round's input: what the app asks for, the base draft, the values the context names."""

    domain: str
    context: str
    draft: str
    facts: dict[str, str] = field(default_factory=dict)
    number: int = 0  # the round, from 0
    rounds: int = 40  # rounds in the run (users that change their habit midway read it)


def variant(rng: random.Random, sentence: str) -> str:
    """A boilerplate sentence with random end punctuation and casing (ends with a space)."""
    casing = rng.random()
    if casing < 0.15:
        sentence = sentence.lower()
    elif casing < 0.25:
        sentence = sentence.upper()
    elif casing < 0.35:
        sentence = " ".join(w[:1].upper() + w[1:] for w in sentence.split())
    return sentence + rng.choice([".", ".", "!", "!!", " ."]) + " "


def _day(rng: random.Random) -> str:
    d = date(2025, 1, 1) + timedelta(days=rng.randrange(365))
    return f"{d:%B} {d.day}"


def _fill(rng: random.Random, templates: Sequence[Sequence[str]], k: int, **slots: str) -> str:
    """``k`` different sentence kinds, each in one of its phrasings, slots filled."""
    chosen = rng.sample(list(templates), k)
    out = []
    for phrasings in chosen:
        text = rng.choice(list(phrasings)).format(**slots)
        out.append(text[:1].upper() + text[1:])
    return " ".join(out)


# -- formal emails -----------------------------------------------------------------------

THINGS = [
    "the vendor contract", "the onboarding plan", "the budget draft", "the data migration",
    "the hiring plan", "the security audit", "the launch checklist", "the training schedule",
    "the office move", "the quarterly forecast", "the supplier review", "the pricing proposal",
]  # fmt: skip
EMAIL_LINES = [
    ["I wanted to share a short update on {thing}.", "Here is a short update on {thing}.",
     "This is a quick note on {thing}."],
    ["I think {thing} is approximately {n}% complete.", "{thing} is approximately {n}% done, "
     "I think.", "We are approximately {n}% through {thing}."],
    ["We plan to utilize the remaining budget in order to finish {thing} by {day}.",
     "In order to finish {thing} by {day}, we will utilize the spare budget.",
     "We would like to utilize two more people in order to close {thing} on {day}."],
    ["Perhaps we could review {thing} together on {day}.", "Maybe we can go through {thing} "
     "on {day}.", "Perhaps a short call on {day} would help with {thing}."],
    ["Could you confirm that {thing} still fits your timeline?", "Please confirm whether "
     "{thing} still works for your team.", "Could you let me know if {thing} still fits?"],
    ["The first part of {thing} is done and the second part starts next week.",
     "We finished the first phase of {thing} and will start the next one soon.",
     "Work on {thing} is moving and the next phase starts on {day}."],
    ["We just need a final sign-off on {thing}.", "All we need now is your sign-off on "
     "{thing}.", "We just need your approval of {thing}."],
    ["I would like to leverage your experience with {thing}.", "It would help to leverage "
     "your team's input on {thing}.", "Your feedback on {thing} would be very welcome."],
]  # fmt: skip
HOPE = ["I hope this email finds you well", "I hope this message finds you well"]
HESITATE = [
    "Please do not hesitate to contact me if you have any questions",
    "Please don't hesitate to reach out if you have any questions",
]


def email(rng: random.Random) -> Case:
    first, last, org = rng.choice(FIRST), rng.choice(LAST), rng.choice(ORGS)
    role, thing, when = rng.choice(ROLES), rng.choice(THINGS), _day(rng)
    code = f"{rng.choice(['PRJ', 'OPS', 'FIN', 'ENG', 'HR'])}-{rng.randrange(100, 1000)}"
    facts = dict(first=first, last=last, org=org, role=role, code=code, date=when, topic=thing)
    context = (
        f"Write an email to {first} {last}, {role} at {org}, about {thing}. "
        f"Reference {code}; the next meeting is on {when}."
    )
    opening = variant(rng, rng.choice(HOPE)) if rng.random() < 0.8 else ""
    body = _fill(rng, EMAIL_LINES, rng.randint(3, 5), thing=thing, n=str(rng.randrange(20, 95)),
                 day=rng.choice(DAYS))  # fmt: skip
    closing = variant(rng, rng.choice(HESITATE)) if rng.random() < 0.8 else ""
    greeting = rng.choice([f"Hello {first},", f"Dear {first},", f"Hi {first} {last},", "Hello,"])
    signoff = rng.choice(["Best regards,", "Kind regards,", "Best,", "Thanks,"])
    draft = f"{greeting}\n\n{opening}{body} {closing}\n\n{signoff}\nAlex"
    return Case("email", context, _clean(draft), facts)


# -- status reports ----------------------------------------------------------------------

METRICS = [
    "Support tickets", "Page load time", "Checkout errors", "Weekly signups", "Build time",
    "Cloud spend", "Churn", "Test coverage", "On-call pages", "Refund requests",
]  # fmt: skip
EVENTS = [
    "the cache rollout", "the pricing change", "the new onboarding flow", "the database "
    "upgrade", "the holiday campaign", "the API freeze", "the CDN switch", "the help-center "
    "redesign",
]  # fmt: skip
FEATURES = [
    "the export button", "dark mode", "the billing page", "SSO login", "the mobile banner",
    "audit logs", "bulk edit", "the search filters", "the status page", "team invites",
]  # fmt: skip
RISKS = ["Vendor delays", "The Android release", "Hiring for the data team",
         "The security review", "Budget approval", "The EU data transfer"]  # fmt: skip
PROJECTS = ["Atlas", "Beacon", "Comet", "Delta", "Ember", "Falcon", "Granite", "Harbor"]
REPORT_LINES = [
    ["{metric} fell by {n}% after {event}.", "{metric} dropped {n}% following {event}.",
     "After {event}, {metric_l} went down by {n}%."],
    ["{metric2} rose by approximately {m}% this week.", "{metric2} grew approximately {m}% "
     "week over week.", "This week {metric2_l} went up by approximately {m}%."],
    ["The team shipped {feature} and {feature2}.", "We shipped {feature} and {feature2} to "
     "all users.", "{feature} and {feature2} went live."],
    ["{risk} remains an open risk.", "{risk} is still a risk going forward.",
     "We are still tracking {risk_l} as a risk."],
    ["We will circle back on {feature2} next week.", "Going forward, {feature2} moves to the "
     "next sprint.", "We need to leverage the new test rig for {feature2}."],
    ["{done} of {total} milestones are done.", "We closed {done} of {total} milestones.",
     "So far {done} of {total} milestones are complete."],
]  # fmt: skip
INTRO = "This report covers several findings from the past week"
FILLER = "Overall, the period showed a mix of progress and open issues"


def report(rng: random.Random) -> Case:
    project, owner, owner_last = rng.choice(PROJECTS), rng.choice(FIRST), rng.choice(LAST)
    code, when = f"{project[:3].upper()}-{rng.randrange(10, 100)}", _day(rng)
    facts = dict(project=project, code=code, date=when, owner=f"{owner} {owner_last}",
                 owner_first=owner)  # fmt: skip
    context = (
        f"Weekly status report for project {project} ({code}), week of {when}; "
        f"owner {owner} {owner_last}."
    )
    metric, metric2 = rng.sample(METRICS, 2)
    feature, feature2 = rng.sample(FEATURES, 2)
    risk = rng.choice(RISKS)
    total = rng.randrange(4, 10)
    body = _fill(
        rng, REPORT_LINES, rng.randint(3, 5), metric=metric, metric_l=metric.lower(),
        metric2=metric2, metric2_l=metric2.lower(), n=str(rng.randrange(3, 40)),
        m=str(rng.randrange(3, 40)), event=rng.choice(EVENTS), feature=feature,
        feature2=feature2, risk=risk, risk_l=risk[:1].lower() + risk[1:],
        done=str(rng.randrange(1, total)), total=str(total),
    )  # fmt: skip
    intro = variant(rng, INTRO) if rng.random() < 0.85 else ""
    filler = variant(rng, FILLER) if rng.random() < 0.85 else ""
    greeting = "Hi all,\n\n" if rng.random() < 0.4 else ""
    return Case("report", context, _clean(f"{greeting}{intro}{body} {filler}"), facts)


# -- support replies ---------------------------------------------------------------------

ISSUES = [
    "login fails after a password reset", "invoices show the wrong currency",
    "the mobile app crashes on start", "exports time out", "two-factor codes never arrive",
    "the dashboard loads slowly", "a refund has not arrived", "notifications stopped",
]  # fmt: skip
CAUSES = [
    "the browser keeps an old session", "the app is out of date", "the account settings "
    "changed recently", "a sync job is still running", "the region setting does not match "
    "the account",
]  # fmt: skip
EXPLAIN = ["This can happen when {cause}.", "This usually happens when {cause}.",
           "In most cases the cause is that {cause}."]  # fmt: skip
STEPS = [
    ["Please clear your browser cache and sign in again.", "Try clearing the browser cache, "
     "then sign in again.", "You can clear the browser cache and sign in again."],
    ["Please update the app to the latest version.", "Try updating the app to the newest "
     "version.", "You can install the latest version of the app."],
    ["Please check the region on the account settings page.", "Try opening the settings page "
     "and checking the region.", "You can check the region under account settings."],
    ["Please restart the device and try again.", "Try restarting the device, then try "
     "again.", "You can restart the device and try once more."],
    ["Please send us a screenshot of the error.", "Try sending us a screenshot of the error.",
     "You can reply with a screenshot of the error."],
]  # fmt: skip
THANKS = "Thank you for contacting support"
SORRY = "We apologize for any inconvenience this may have caused"
HOPE_HELPS = "We hope this helps"
PLANS = ["Free", "Pro", "Team", "Enterprise"]


def support(rng: random.Random) -> Case:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    ticket, plan, when = str(rng.randrange(10000, 100000)), rng.choice(PLANS), _day(rng)
    issue = rng.choice(ISSUES)
    facts = dict(first=first, last=last, ticket=ticket, plan=plan, issue=issue, date=when)
    context = (
        f"Reply to ticket #{ticket} from {first} {last} ({plan} plan customer) about: "
        f"{issue}. Opened on {when}."
    )
    explain = rng.choice(EXPLAIN).format(cause=rng.choice(CAUSES))
    steps = _fill(rng, STEPS, rng.randint(2, 4))
    thanks = variant(rng, THANKS) if rng.random() < 0.85 else ""
    sorry = variant(rng, SORRY) if rng.random() < 0.8 else ""
    helps = variant(rng, HOPE_HELPS) if rng.random() < 0.8 else ""
    greeting = rng.choice(["Hi Customer,", "Hello there,", "Dear Customer,", "Hi,"])
    signoff = rng.choice(["Best,\nThe Support Team", "Kind regards,\nSupport",
                          "Thanks,\nThe Support Team"])  # fmt: skip
    draft = f"{greeting}\n\n{thanks}{sorry}{explain} {steps} {helps}\n\n{signoff}"
    return Case("support", context, _clean(draft), facts)


# -- team posts --------------------------------------------------------------------------

TEAMS = ["Platform", "Mobile", "Growth", "Design", "Data", "Payments", "Infra"]
CHANNELS = ["general", "eng", "design", "ops", "data", "launch"]
TOPICS = ["demo day plans", "the release freeze", "on-call changes", "the new review process",
          "the offsite agenda", "the sprint goals"]  # fmt: skip
TEAM_LINES = [
    ["We are approximately {n}% done with {feature}.", "{feature} is approximately {n}% done.",
     "We're approximately {n}% through {feature}."],
    ["The demo and the retro are on {day}.", "Demo and retro happen on {day}.",
     "On {day} we have the demo and the retro."],
    ["I will be out on {day}, so {first} is covering.", "{first} covers for me on {day}.",
     "I'm off on {day} and {first} will cover."],
    ["Please review the open pull requests and the design notes.", "Take a look at the open "
     "pull requests and the design notes.", "Please go through the design notes and open "
     "pull requests."],
    ["I think we should just keep the scope small.", "Maybe we should keep the scope small.",
     "I think the scope should just stay small."],
    ["Great work on {feature2} and the bug fixes!", "Nice job on {feature2} and the last "
     "fixes!", "Kudos for {feature2} and the bug bash!"],
]  # fmt: skip
THOUGHTS = "Let me know if you have any thoughts"


def team(rng: random.Random) -> Case:
    name, channel, topic = rng.choice(TEAMS), rng.choice(CHANNELS), rng.choice(TOPICS)
    sprint, when = str(rng.randrange(10, 60)), _day(rng)
    facts = dict(team=name, channel=channel, topic=topic, sprint=sprint, date=when)
    context = f"Post in #{channel} for the {name} team about {topic}. Sprint {sprint}, due {when}."
    feature, feature2 = rng.sample(FEATURES, 2)
    body = _fill(rng, TEAM_LINES, rng.randint(3, 4), n=str(rng.randrange(20, 95)),
                 feature=feature, feature2=feature2, day=rng.choice(DAYS),
                 first=rng.choice(FIRST))  # fmt: skip
    thoughts = variant(rng, THOUGHTS) if rng.random() < 0.85 else ""
    greeting = rng.choice(["Hey team!", "Hi everyone!", "Hello team,", "Hey all!"])
    thanks = rng.choice(["Thanks everyone!", "Thanks, everyone!", "Thanks all!"])
    return Case("team", context, _clean(f"{greeting}\n\n{body} {thoughts}\n\n{thanks}"), facts)


# -- document summaries ------------------------------------------------------------------

SUBJECTS = [
    "Remote teams", "Small retailers", "City buses", "Solar farms", "Public libraries",
    "Hospital wards", "Online courses", "Food banks", "Freight lines", "Coffee growers",
]  # fmt: skip
FINDINGS = [
    "cut costs by {n}% in two years", "doubled their output after a redesign",
    "lost {n}% of their staff to competitors", "adopted shared scheduling software",
    "saw fewer complaints once prices were posted", "needed more funding than planned",
    "reported longer waits during the winter", "grew by {n}% after a local campaign",
]  # fmt: skip
KINDS = ["article", "memo", "paper", "blog post", "report"]
TOPIC_WORDS = ["Costs", "Staffing", "Demand", "Access", "Funding", "Growth", "Delays"]
SUMMARY_OPEN = [
    "This document discusses {title_l}", "This text discusses {title_l}",
    "This document is about {title_l}",
]  # fmt: skip


def summary(rng: random.Random) -> Case:
    kind, author, when = rng.choice(KINDS), f"{rng.choice(FIRST)} {rng.choice(LAST)}", _day(rng)
    subjects = rng.sample(SUBJECTS, 4)
    title = f"{rng.choice(TOPIC_WORDS)} in {subjects[0].lower()} and {subjects[1].lower()}"
    facts = dict(kind=kind, author=author, title=title, date=when)
    points = [
        f"{s} {rng.choice(FINDINGS).format(n=rng.randrange(5, 60))}."
        for s in subjects[: rng.randint(3, 4)]
    ]
    framed = [
        rng.choice(["{p}", "The authors note that {q}", "According to the {kind}, {q}"]).format(
            p=p, q=p[:1].lower() + p[1:], kind=kind
        )
        for p in points
    ]
    context = f'Summarize this {kind} by {author} titled "{title}" ({when}): ' + " ".join(framed)
    opening = variant(rng, rng.choice(SUMMARY_OPEN).format(title_l=title.lower()))
    last = points[-1]
    ending = "In conclusion, " + last[:1].lower() + last[1:]
    draft = opening + " ".join(points[:-1]) + " " + ending
    return Case("summary", context, _clean(draft), facts)


def _clean(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.strip().split("\n")]
    return "\n".join(lines).replace(" .", ".")


GENERATORS: dict[str, Callable[[random.Random], Case]] = {
    "email": email,
    "report": report,
    "support": support,
    "team": team,
    "summary": summary,
}


def sample(domain: str, seed: int = 0) -> Case:
    """One case of ``domain`` from a seeded generator (for reading and tests)."""
    return GENERATORS[domain](random.Random(f"{domain}:{seed}"))


def plan(domains: Sequence[str], key: str, rounds: int) -> list[str]:
    """The domain of each round: the user's domains split evenly, in a seeded order."""
    order = [domains[i % len(domains)] for i in range(rounds)]
    random.Random(f"{key}:plan").shuffle(order)
    return order


def case(domains: Sequence[str], key: str, number: int, rounds: int) -> Case:
    """Round ``number`` of the run ``key`` (user and seed): a fresh draft of its domain."""
    domain = plan(domains, key, rounds)[number]
    made = GENERATORS[domain](random.Random(f"{key}:{number}"))
    return Case(made.domain, made.context, made.draft, made.facts, number, rounds)

"""Synthetic, deterministic texts for the benchmarks: contexts, drafts, edits, feedback.

Contexts are short requests (emails and summaries) built from templates, so a
pool of a few thousand distinct ones is cheap to make and looks like what an
app would send. ``novel_context`` makes texts that are guaranteed never to be
in the pool (they carry a ticket number that pool texts never have), which is
what "a context never seen before" means for the cache-miss measurements.
"""

from __future__ import annotations

import random

RECIPIENTS = [
    "my boss", "the whole team", "a new client", "our landlord", "my professor",
    "the hiring manager", "a vendor who missed a deadline", "my direct report",
    "the board", "a customer who complained", "my co-founder", "the IT help desk",
    "an old colleague", "the conference organizers", "our accountant", "a journalist",
]  # fmt: skip
TOPICS = [
    "rescheduling Friday's meeting", "the quarterly budget review", "a delayed shipment",
    "the new onboarding process", "a request for time off", "the server outage last night",
    "renewing the annual contract", "feedback on the product demo", "the holiday party",
    "a change in project scope", "the overdue invoice", "hiring two more engineers",
    "moving the office to a new floor", "the results of the customer survey",
    "a missing expense report", "the roadmap for next quarter", "a security incident",
    "the launch date of the mobile app", "a partnership proposal", "the team offsite",
]  # fmt: skip
DETAILS = [
    "Keep it short.", "Mention that I am travelling next week.", "Ask for a reply by Monday.",
    "Apologize for the delay.", "Thank them for their patience.", "Propose two time slots.",
    "Attach the latest numbers.", "Be direct about the risks.", "Include a short agenda.",
    "Ask whether the plan still works for them.", "", "",
]  # fmt: skip
DOCS = [
    "meeting notes", "research paper abstract", "customer support thread", "news article",
    "product requirements document", "incident postmortem", "sales call transcript",
    "legal memo", "quarterly earnings report", "design review",
]  # fmt: skip
AUDIENCES = [
    "an executive", "engineers", "a new hire", "customers", "the legal team", "investors",
    "a ten-year-old", "the marketing team",
]  # fmt: skip
SNIPPETS = [
    "Revenue grew 12% while churn stayed flat and support tickets doubled.",
    "The team agreed to freeze features until the migration is done.",
    "Latency spiked after the cache was disabled during the deploy.",
    "Two customers asked for an on-premises version with single sign-on.",
    "The model beats the baseline on three of five benchmarks.",
    "Costs rose because the vendor changed its pricing in March.",
    "Action items: update the docs, call the customer, fix the flaky test.",
    "The committee postponed the vote to the next session.",
]
FEEDBACK = [
    "No emojis.", "Keep it under 100 words.", "Use bullet points.", "Be more formal.",
    "Be more casual and friendly.", "Sign off with 'Cheers'.", "Lead with the main ask.",
    "Avoid exclamation marks.", "Use the recipient's first name.", "Don't apologize so much.",
    "Put the deadline in bold.", "Write in the active voice.", "Skip the small talk.",
    "Use British spelling.", "End with a clear next step.", "One idea per paragraph.",
    "Avoid jargon.", "Add a one-line summary at the top.", "No passive-aggressive tone.",
    "Keep sentences short.", "Use numbered lists for steps.", "Mention the budget impact.",
    "Quote exact numbers.", "Don't use 'just'.",
]  # fmt: skip
TASKS = ("email", "summary")


def _email(rng: random.Random) -> str:
    text = f"Write an email to {rng.choice(RECIPIENTS)} about {rng.choice(TOPICS)}."
    detail = rng.choice(DETAILS)
    return f"{text} {detail}".strip()


def _summary(rng: random.Random) -> str:
    return (
        f"Summarize this {rng.choice(DOCS)} for {rng.choice(AUDIENCES)}: "
        f"{rng.choice(SNIPPETS)} {rng.choice(SNIPPETS)}"
    )


def context(rng: random.Random) -> tuple[str, str]:
    """One (task, context) pair."""
    task = rng.choice(TASKS)
    return task, (_email(rng) if task == "email" else _summary(rng))


def context_pool(size: int, seed: int = 0) -> list[tuple[str, str]]:
    """``size`` distinct (task, context) pairs, the same for the same seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    pool: list[tuple[str, str]] = []
    attempts = 0
    while len(pool) < size:
        attempts += 1
        if attempts > size * 50:
            raise ValueError(f"the templates cannot make {size} distinct contexts")
        task, text = context(rng)
        if text not in seen:
            seen.add(text)
            pool.append((task, text))
    return pool


def novel_context(rng: random.Random, serial: int) -> tuple[str, str]:
    """A context no pool holds (and unique per ``serial``): a cache miss everywhere."""
    task, text = context(rng)
    return task, f"{text} Reference ticket {100_000 + serial}."


def draft_and_final(rng: random.Random, ctx: str) -> tuple[str, str]:
    """A plausible draft and the user's edit of it (unchanged about one time in five)."""
    subject = ctx.split(".")[0][:80]
    draft = (
        f"Hi there!\n\nI hope this message finds you well. I am writing regarding: {subject}. "
        "Please let me know your thoughts at your earliest convenience. :)\n\nBest regards,\nAlex"
    )
    if rng.random() < 0.2:
        return draft, draft
    final = draft.replace("Hi there!", "Hi,").replace(" :)", "")
    if rng.random() < 0.5:
        final = final.replace("I hope this message finds you well. ", "")
    if rng.random() < 0.5:
        final = final.replace("Best regards", "Cheers")
    return draft, final

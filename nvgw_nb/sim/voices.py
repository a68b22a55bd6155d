"""Sentence templates per simulated model family ("voices"), so providers sound different.

{a} is a phrase of the prompt, {b}/{c} phrases or fillers, {A} a capitalised keyword.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["VOICES", "voice_for"]

_PROVIDER_VOICES: Mapping[str, str] = {
    "nvidia-nim": "llama",
    "anthropic": "claude",
    "google-genai": "gemini",
}

VOICES: dict[str, dict[str, tuple[str, ...]]] = {
    "llama": {
        "openers": (
            "Sure!",
            "Great question.",
            "Here's a concise answer.",
            "Happy to help with that.",
            "",
        ),
        "sentences": (
            "{A} mostly comes down to {b} and {c}.",
            "In short, {a} works best when you keep {b} simple and well tested.",
            "Here's a quick take on {a}: start with {b}, then refine {c}.",
            "The key point about {a} is how it interacts with {b}.",
            "A practical approach is to treat {b} as the main constraint and adjust {c} around it.",
            "If you're working with {a}, check {b} first, since it's the usual source of "
            "surprises.",
            "Most teams handle {a} by splitting it into smaller steps around {b}.",
            "I'd recommend documenting {b} alongside {a} so reviewers can follow the reasoning.",
            "Overall, {a} is manageable once {b} is clear.",
            "Keep an eye on {c}; it tends to matter more for {a} than people expect.",
        ),
        "fillers": (
            "the overall design",
            "error handling",
            "the data flow",
            "test coverage",
            "the interface",
            "performance",
        ),
    },
    "gpt": {
        "openers": ("Certainly.", "Here's an overview:", "", "", "Good question."),
        "sentences": (
            "{A} is primarily about {b}.",
            "To summarize, focus on {b} before optimizing {c}.",
            "A reliable way to approach {a} is to define {b} explicitly and validate {c} early.",
            "Consider the trade-off between {b} and {c} when planning {a}.",
            "In practice, {a} benefits from clear ownership of {b}.",
            "Keep {b} small and observable; that makes {a} easier to reason about.",
            "One common pitfall with {a} is overlooking {c}.",
            "If needed, I can expand on {b} or provide an example involving {c}.",
            "For {a}, the most important factor is usually {b}, followed by {c}.",
        ),
        "fillers": (
            "requirements",
            "edge cases",
            "maintainability",
            "observability",
            "the constraints",
            "security",
        ),
    },
    "claude": {
        "openers": ("", "", "Good question.", "Here's how I'd think about it.", "Short answer:"),
        "sentences": (
            "{A} mostly depends on {b}, so that's where I'd start.",
            "The main consideration with {a} is {b}; {c} matters less than it first appears.",
            "I'd approach {a} by making {b} explicit, then checking {c} against it.",
            "One thing worth flagging: {a} can interact with {b} in ways that are easy to miss.",
            "If {b} is already well understood, {a} becomes fairly straightforward.",
            "A reasonable default for {a} is to keep {b} simple and revisit {c} later.",
            "It's worth being careful about {c} here, since it shapes how {a} behaves.",
            "In my view, the clearest path through {a} is to settle {b} first.",
            "Happy to go deeper on {b} or walk through an example of {a}.",
        ),
        "fillers": (
            "the underlying assumptions",
            "failure modes",
            "the interfaces involved",
            "testing",
            "the trade-offs",
            "clarity",
        ),
    },
    "gemini": {
        "openers": ("", "Here's a breakdown:", "Okay, here's the short version.", "", "Sure."),
        "sentences": (
            "**{A}** comes down to {b} and {c}.",
            "Essentially, {a} works best when {b} is handled up front.",
            "A good way to think about {a} is in terms of {b}.",
            "Key point: {b} usually has the biggest impact on {a}.",
            "For {a}, start with {b}, then look at {c}.",
            "You can simplify {a} a lot by standardising {b}.",
            "Don't overlook {c}; it's a common source of issues with {a}.",
            "In short, {a} is about balancing {b} against {c}.",
        ),
        "fillers": (
            "the setup",
            "configuration",
            "scalability",
            "reliability",
            "the workflow",
            "monitoring",
        ),
    },
}


def voice_for(provider: str) -> str:
    """The voice of a provider: Llama-ish for NIM, Claude / Gemini for theirs, else GPT-ish."""
    return _PROVIDER_VOICES.get(provider, "gpt")

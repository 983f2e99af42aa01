"""A theme's seed vocabulary: thousands of words drawn with Zipf frequencies.

Search over seeded posts means something only if their words are distributed like real
text: a few words in most posts, a long tail in a handful. A theme's curated ``vocabulary``
(most common first) and the words of its own text head the ranking; inflections and
thousands of derived proper nouns (companies, people, places, made from syllables) form the
tail. A word of rank ``r`` is drawn with weight ``1 / (r + Q) ** S`` (Zipf-Mandelbrot).

Deterministic everywhere: the derived names come from a ``random.Random`` seeded with a
string (hashed with SHA-512, not ``hash()``, so PYTHONHASHSEED never matters), draws use only
``Random.random`` (the same across Python versions) and the weights are summed in one fixed
order.
"""

from __future__ import annotations

import random
import re
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

from stratabase.seed.theme import Theme

__all__ = ["SENTENCES", "Vocabulary", "notes", "vocabulary"]

#: Zipf-Mandelbrot exponent and offset (English text: S close to 1).
ZIPF_S, ZIPF_Q = 1.05, 2.7
#: Derived proper nouns per theme: the long tail.
DERIVED_NAMES = 6_000
_TEXT_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[a-z]")
_ONSETS = (
    "b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "kr", "l", "m", "n", "p",
    "pr", "qu", "r", "s", "st", "t", "tr", "v", "w", "z",
)  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou")
_CODAS = ("", "", "n", "r", "s", "l", "x", "m", "th", "nd", "rt", "sk", "v")
_ENDINGS = ("a", "o", "is", "on", "ex", "ia", "ara", "ium", "eno", "ix", "ora", "ent", "ar")
#: Sentence frames for the generated paragraph; each ``{}`` takes one drawn word.
SENTENCES = (
    "{} and {} drive most of the {} story this week.",
    "{} said the {} numbers depend on {} more than on {}.",
    "Notes on {}: {}, {} and {}.",
    "The {} question keeps coming back to {}.",
    "Nobody expected {} to matter for {} until {} changed.",
    "{} ties {} to {}, a link {} disputes.",
    "Watch {} and {} before reading too much into {}.",
    "A closer look at {} shows {} and {} moving together.",
    "Ask {} about {} and the answer is {}.",
    "{} is the part of {} that {} still gets wrong.",
)


@dataclass(frozen=True)
class Vocabulary:
    """Words by rank (most common first) and their cumulative Zipf weights."""

    words: tuple[str, ...]
    cumulative: tuple[float, ...]

    def picker(self, rng: random.Random) -> Callable[[], str]:
        """A function drawing one word per call from ``rng`` with Zipf frequencies."""
        rand, words, cumulative = rng.random, self.words, self.cumulative
        total, last = cumulative[-1], len(words) - 1

        def pick() -> str:
            return words[min(last, bisect(cumulative, rand() * total))]

        return pick


def _theme_text_words(theme: Theme) -> list[str]:
    texts = [*theme.topics, *theme.headings, *theme.list_items, *theme.paragraphs]
    texts += [*theme.comments, *theme.tags]
    return [word.lower() for text in texts for word in _TEXT_WORD.findall(text) if len(word) >= 4]


def _inflected(word: str) -> str | None:
    if not word.isalpha() or not word.islower() or len(word) < 4:
        return None
    if word.endswith("s"):  # often a plural already
        return None
    if word.endswith(("x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _derived_names(theme: Theme, count: int, taken: set[str]) -> list[str]:
    rng = random.Random(f"vocabulary:{theme.name}")
    rand = rng.random

    def part(options: tuple[str, ...]) -> str:
        return options[int(rand() * len(options))]

    names: list[str] = []
    while len(names) < count:
        syllables = 1 + int(rand() * 2)
        word = "".join(part(_ONSETS) + part(_VOWELS) + part(_CODAS) for _ in range(syllables))
        word = (word + part(_ONSETS) + part(_ENDINGS)).capitalize()
        if word.lower() not in taken:
            taken.add(word.lower())
            names.append(word)
    return names


def vocabulary(theme: Theme) -> Vocabulary:
    """The theme's ranked words: curated, its own text, inflections, derived names."""
    ranked: list[str] = []
    taken: set[str] = set()
    for word in [*theme.vocabulary, *_theme_text_words(theme)]:
        if word.lower() not in taken:
            taken.add(word.lower())
            ranked.append(word)
    inflections = list(
        dict.fromkeys(form for form in map(_inflected, ranked) if form and form not in taken)
    )
    taken.update(inflections)
    ranked += inflections
    ranked += _derived_names(theme, DERIVED_NAMES, taken)
    weights = [1.0 / (rank + ZIPF_Q) ** ZIPF_S for rank in range(1, len(ranked) + 1)]
    return Vocabulary(tuple(ranked), tuple(accumulate(weights)))


def notes(rng: random.Random, pick: Callable[[], str]) -> str:
    """A paragraph of three to six sentences whose words come from ``pick``."""
    rand = rng.random
    sentences = []
    for _ in range(3 + int(rand() * 4)):
        frame = SENTENCES[int(rand() * len(SENTENCES))]
        sentence = frame.format(*(pick() for _ in range(frame.count("{}"))))
        sentences.append(sentence[:1].upper() + sentence[1:])
    return " ".join(sentences)

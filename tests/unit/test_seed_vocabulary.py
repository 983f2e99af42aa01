"""The seed vocabulary: thousands of words per theme, Zipf-distributed, the same every run."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections import Counter

import pytest

from stratabase.seed import blocks
from stratabase.seed.theme import available_themes, load_theme
from stratabase.seed.vocabulary import notes, vocabulary


@pytest.mark.parametrize("name", available_themes())
def test_each_theme_has_thousands_of_words_with_a_long_tail(name: str) -> None:
    words = vocabulary(load_theme(name))
    assert len(words.words) >= 5_000
    assert len({w.lower() for w in words.words}) == len(words.words)  # no duplicates
    pick = words.picker(random.Random(1))
    counts = Counter(pick() for _ in range(100_000))
    ranked = [n for _, n in counts.most_common()]
    assert len(counts) > 3_000  # most of the vocabulary appears
    assert ranked[0] > 50 * ranked[len(ranked) // 2]  # a few very common words…
    assert sum(n == 1 for n in ranked) > 500  # …and many seen once


def test_bodies_are_varied_text_not_a_few_hundred_words() -> None:
    theme = load_theme("tech")
    pool = blocks.body_pool(theme, 1, "article", posts=100_000)
    assert len(pool) == blocks.pool_size("article", 100_000) > blocks.POOL_SIZE["article"]
    text = " ".join(b.json for b in pool[:2_000])
    assert len(set(re.findall(r"[A-Za-z]+", text))) > 3_000


def test_a_theme_without_vocabulary_still_generates() -> None:
    theme = load_theme("science").model_copy(update={"vocabulary": []})
    paragraph = notes(random.Random(2), vocabulary(theme).picker(random.Random(3)))
    assert paragraph and paragraph[0].isupper()


def test_the_same_words_in_another_process_with_another_hash_seed() -> None:
    code = (
        "import random;from stratabase.seed.theme import load_theme;"
        "from stratabase.seed.vocabulary import vocabulary, notes;"
        "v = vocabulary(load_theme('politics'));"
        "print(notes(random.Random(5), v.picker(random.Random(6))))"
    )
    here = notes(random.Random(5), vocabulary(load_theme("politics")).picker(random.Random(6)))
    for hash_seed in ("0", "77"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
        )
        assert out.stdout.strip() == here

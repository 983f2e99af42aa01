"""Text handling shared by indexing and querying: tokens, websearch-style queries, snippets.

Pure functions, no I/O. Normalisation (NFKD, accents dropped, casefolded) is the same for
documents and queries, so ``Café`` finds ``cafe`` on both backends.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field

_WORD = re.compile(r"\w+", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Longest query we accept; longer is a 422 at the edge.
MAX_QUERY_LENGTH = 500
#: At most this many terms take part in a query; the rest are ignored.
MAX_TERMS = 16
MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"


def normalise(word: str) -> str:
    """Accents removed and case folded, so ``Café`` and ``cafe`` match."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _folded(word: str) -> str:
    """:func:`normalise`, with the ASCII shortcut (no accents, ``casefold`` is ``lower``)."""
    return word.lower() if word.isascii() else normalise(word)


def strip_accents(text: str) -> str:
    """Accents removed, case kept (so websearch's ``OR`` survives)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    """The words of ``text`` (runs of Unicode word characters), each normalised."""
    return [token for token in (normalise(m.group()) for m in _WORD.finditer(text)) if token]


def terms_string(text: str) -> str:
    """The normalised tokens joined by spaces: what both indexes read (SQLite's FTS5 table
    over ``*_terms``, PostgreSQL's tsvector), so documents and queries normalise alike."""
    return " " + " ".join(tokens(text)) + " "


def clean_query(text: str) -> str:
    """Control characters become spaces and the ends are trimmed; nothing else changes."""
    return _CONTROL.sub(" ", text).strip()


@dataclass
class ParsedQuery:
    """A websearch-style query: ``"exact phrase"``, ``-excluded``, ``a OR b``, plain words.

    ``groups`` are ANDed; the alternatives inside a group are ORed; each alternative is a
    phrase (a list of one or more tokens).
    """

    groups: list[list[list[str]]] = field(default_factory=list)
    excluded: list[list[str]] = field(default_factory=list)

    @property
    def positive_tokens(self) -> list[str]:
        """Every token a match may contain (excluded ones left out), e.g. to highlight."""
        return [t for group in self.groups for phrase in group for t in phrase]

    @property
    def empty(self) -> bool:
        """Nothing to look for (only exclusions, or no words at all)."""
        return not self.groups


_QUERY_PART = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def parse_query(text: str) -> ParsedQuery:
    """Parse any string; never raises. Unknown syntax degrades to plain words."""
    parsed = ParsedQuery()
    pending_or = False
    count = 0
    for match in _QUERY_PART.finditer(clean_query(text)):
        negated = False
        if match.group(2) is not None:
            negated = match.group(1) == "-"
            phrase = tokens(match.group(2))
        else:
            raw = match.group(3)
            if raw == "OR":
                pending_or = bool(parsed.groups)
                continue
            if raw.startswith("-") and len(raw) > 1:
                negated, raw = True, raw[1:]
            phrase = tokens(raw)
        if not phrase or count >= MAX_TERMS:
            continue
        count += len(phrase)
        if negated:
            parsed.excluded.append(phrase)
        elif pending_or:
            parsed.groups[-1].append(phrase)
        else:
            parsed.groups.append([phrase])
        pending_or = False
    return parsed


def snippet(text: str, query: ParsedQuery, *, width: int = 30) -> str:
    """About ``width`` words of ``text`` around the first hit, HTML-escaped, hits in <mark>."""
    wanted = set(query.positive_tokens)
    words = list(_WORD.finditer(text))
    if not words:
        return html.escape(text[:200])
    # Only the first hit and the window's words are folded: bodies run to hundreds of words.
    first = next((i for i, m in enumerate(words) if _folded(m.group()) in wanted), 0)
    start = max(0, first - width // 3)
    end = min(len(words), start + width)
    begin_at = words[start].start() if start > 0 else 0
    end_at = words[end - 1].end() if end < len(words) else len(text)
    out: list[str] = ["…" if start > 0 else ""]
    cursor = begin_at
    for index in range(start, end):
        match = words[index]
        out.append(html.escape(text[cursor : match.start()]))
        word = html.escape(match.group())
        hit = _folded(match.group()) in wanted
        out.append(f"{MARK_OPEN}{word}{MARK_CLOSE}" if hit else word)
        cursor = match.end()
    out.append(html.escape(text[cursor:end_at]))
    out.append("…" if end_at < len(text) else "")
    return "".join(out)

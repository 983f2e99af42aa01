"""SQLite's side of search: the FTS5 ``MATCH`` string for a parsed query, and its rank.

``search_fts`` (migration 0003) is an external-content FTS5 index over the normalised
``title_terms``/``body_terms`` of ``search_documents``, kept in step by triggers. Every token
of the user's query reaches FTS5 inside a double-quoted string, so nothing the user types is
read as FTS5 syntax (``AND``, ``NEAR``, ``*``, ``^``, ``:``, parentheses): the websearch
structure comes only from :func:`stratabase.search.text.parse_query`, and ``MATCH`` cannot
fail on user input.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    cast,
    column,
    func,
    literal_column,
    table,
)

from stratabase.search.text import ParsedQuery

FTS_TABLE = "search_fts"
#: The FTS5 table as a FROM item: its ``rowid`` is ``search_documents.id``.
fts_table = table(FTS_TABLE, column("rowid", Integer))
#: bm25 column weights, in the table's column order (title_terms, body_terms).
TITLE_WEIGHT, BODY_WEIGHT = 10.0, 1.0
#: bm25 scores are small floats (about 1e-6 when a term is in most documents); scaled and
#: truncated to an integer, ``(rank, id)`` keyset cursors compare exactly. The largest score
#: (16 terms, title and body) stays far below 2**63 at this scale.
RANK_SCALE = 1e9


def _quoted(phrase: list[str]) -> str | None:
    """One FTS5 string (a phrase when it holds several tokens), or None if nothing in it can
    match: the index's tokenizer splits on ``_``, so a token of underscores only is empty."""
    words = [token for token in phrase if any(ch.isalnum() for ch in token)]
    if not words:
        return None
    return '"' + " ".join(words).replace('"', '""') + '"'


def match_expression(parsed: ParsedQuery) -> str | None:
    """``(a OR "b c") AND (d) NOT ("e" OR "f")``, or None when no positive term is left
    (FTS5 needs one before ``NOT``; such a query matches nothing, as on PostgreSQL)."""
    groups = []
    for group in parsed.groups:
        alternatives = [text for text in map(_quoted, group) if text is not None]
        if alternatives:
            groups.append("(" + " OR ".join(alternatives) + ")")
    if not groups:
        return None
    expression = " AND ".join(groups)
    excluded = [text for text in map(_quoted, parsed.excluded) if text is not None]
    if excluded:
        expression = f"({expression}) NOT ({' OR '.join(excluded)})"
    return expression


def match(expression: str) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
    """The ``MATCH`` condition and the integer rank (higher is better, title over body)."""
    target: ColumnElement[Any] = literal_column(FTS_TABLE)
    score = func.bm25(target, TITLE_WEIGHT, BODY_WEIGHT, type_=Float)
    rank = cast(score * -RANK_SCALE, BigInteger)
    return target.op("MATCH")(expression), rank

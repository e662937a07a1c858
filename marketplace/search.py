"""Words as search lexemes, the same way for vendors' keywords and intents' text.

On PostgreSQL the lexemes come from its English full-text configuration
(stemmed, stop words dropped), so "boilers" and "boiler" meet. SQLite, the
embedded default, gets a small portable approximation.
"""

from __future__ import annotations

import re

from django.db import connection

TEXT_SEARCH_CONFIG = "english"
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "is",
        "it",
        "its",
        "my",
        "of",
        "on",
        "or",
        "our",
        "the",
        "this",
        "to",
        "we",
        "with",
        "you",
        "your",
    ]
)
WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _portable_lexemes(text: str) -> set[str]:
    lexemes = set()
    for word in WORD.findall(text.lower()):
        if word in STOP_WORDS or len(word) < 2:
            continue
        for suffix in ("ies", "es", "s"):
            if word.endswith(suffix) and len(word) > len(suffix) + 2:
                word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
                break
        lexemes.add(word)
    return lexemes


def lexemes(text: str) -> list[str]:
    """The distinct search lexemes of ``text``, sorted."""
    if not text.strip():
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tsvector_to_array(to_tsvector(%s::regconfig, %s))",
                [TEXT_SEARCH_CONFIG, text],
            )
            return sorted(cursor.fetchone()[0])
    return sorted(_portable_lexemes(text))


def lexemes_each(texts: list[str]) -> dict[str, list[str]]:
    """The lexemes of each text, in one query on PostgreSQL."""
    texts = sorted({text for text in texts if text.strip()})
    if not texts:
        return {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT t, tsvector_to_array(to_tsvector(%s::regconfig, t))"
                " FROM unnest(%s::text[]) AS t",
                [TEXT_SEARCH_CONFIG, texts],
            )
            return {text: sorted(words) for text, words in cursor.fetchall()}
    return {text: sorted(_portable_lexemes(text)) for text in texts}

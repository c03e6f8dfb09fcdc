"""How captions are cut into words: the one definition both engines follow.

The ``caption`` field of the text index is analysed by tantivy's ``default`` analyzer: split
on every character that is not a letter or a digit, drop tokens over 40 bytes, lower-case.
Classroom words are cut here by the very same analyzer, so the text index looks for exactly
the tokens it stored; the catalog's SQL translation (``app.catalog.filters.phrases_pattern``)
matches the same token sequences with a regular expression over the same letter/digit rule.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import tantivy

from app.catalog.filters import Phrases

# tantivy's "default": SimpleTokenizer + RemoveLongFilter(40) + LowerCaser.
MAX_TOKEN_BYTES = 40
_local = threading.local()


def word_analyzer() -> tantivy.TextAnalyzer:
    """The caption field's analyzer, built once per thread (analyzers are not shared)."""
    analyzer = getattr(_local, "analyzer", None)
    if analyzer is None:
        analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES))
            .filter(tantivy.Filter.lowercase())
            .build()
        )
        _local.analyzer = analyzer
    return analyzer


def words(text: str) -> list[str]:
    """The tokens of ``text`` as the caption field stores them."""
    return list(word_analyzer().analyze(text))


def phrases(entries: Iterable[str]) -> Phrases:
    """Each listed word or phrase as its token sequence; entries without a token dropped."""
    found: list[tuple[str, ...]] = []
    for entry in entries:
        tokens = tuple(words(entry))
        if tokens and tokens not in found:
            found.append(tokens)
    return tuple(found)

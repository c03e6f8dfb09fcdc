"""How people's caption searches are analysed: one words field per language, stemmed and folded.

The ``caption`` field (tantivy's ``default`` analyzer) stays as it is: classroom words are
matched on it, and the SQL engine mirrors it token for token (``app.textsearch.analysis``).
People's words (``q``) are searched in the fields made here instead. Each caption is written
to exactly one of them, chosen by the catalog's ``language`` (CLD3 codes):

* ``caption_<code>`` for a language that has a Snowball stemmer in tantivy (de, fr, es, it,
  pt, nl, ru, sv, ...) and holds at least ``STEMMED_MIN_SHARE`` of the captions;
* ``caption_en`` for English and every other caption: no language, CJK, Polish, a rare
  language. LAION's short product captions are often English whatever CLD3 says, and the
  English stemmer only rewrites ASCII suffixes, so it leaves other scripts as they are.

Every field lower-cases, folds to ASCII (``café`` = ``cafe``), then stems, so ``astronauts``,
``Astronaut`` and ``astronaut's`` meet on ``astronaut``. Every field cuts words with the same
tokenizer: a run of letters or digits is a word, as in the ``default`` analyzer, except that
each Han, Hiragana, Katakana or Hangul character is a word of its own. With positions
indexed, ``宇航员`` becomes the phrase 宇 航 员 (the captions holding that string, as
``contains`` finds them) and one character such as ``猫`` is a plain term.

A query is analysed per field by that field's own analyzer (tantivy's query parser does
it), so the form a person typed always matches wherever it is stored, as it did in
``caption``; the stemmed and folded forms match too. The analyzers are not stored in the
index: every process that opens it must :func:`register` them first (a field whose analyzer
is unknown refuses to index, and silently matches nothing in a lenient parse).

Folding comes before stemming, so that ``café`` and ``cafe`` give the same stem whatever the
stemmer does with accents (with the stemmers here both orders agreed on every pair we tried;
folding first makes it true by construction).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

import tantivy

from app.textsearch.analysis import MAX_TOKEN_BYTES

# Bump when an analyzer changes: the analyzers' names are stored in the index's schema, so
# an index built with other analysis is never searched with this one (its words fields are
# not recognised, and searches fall back to ``caption``).
ANALYSIS_VERSION = 1
FIELD_PREFIX = "caption_"
# The field of English and of every caption whose language has no field of its own.
DEFAULT_LANGUAGE = "en"
DEFAULT_FIELD = FIELD_PREFIX + DEFAULT_LANGUAGE

# The Snowball stemmers tantivy ships, by the CLD3 code LAION's ``LANGUAGE`` column uses.
STEMMERS: dict[str, str] = {
    "ar": "arabic",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "fi": "finnish",
    "fr": "french",
    "hu": "hungarian",
    "it": "italian",
    "nl": "dutch",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
}

# A language gets a stemmed field of its own only when it holds at least this share of the
# captions; rarer ones go to the default field. A search without a language filter looks in
# every field, and each costs its own posting lists: on 1M generated rows a two-word search
# took 1.6 ms over 2 fields and 3.5 ms over 18 (the single ``caption`` field: 1.2 ms). On the
# bench's LAION-shaped rows (bench/datagen.py), 0.5 % keeps de, es, fr, it, nl, pt, ru, sv, tr.
STEMMED_MIN_SHARE = 0.005

# Scripts written without spaces between words (and Korean, whose words carry particles):
# one character is one token. U+30FC, the Katakana long-vowel mark, is in the Common script.
# The same text is a character class for RE2 (DuckDB) and for Rust's regex (tantivy).
CHARACTER_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\x{30FC}"
_ALPHANUMERIC = r"[\p{Alphabetic}\p{N}]"  # char::is_alphanumeric, what the simple tokenizer keeps
# What a person types is cut by this: one letter of those scripts, or a run of other letters
# and digits. Captions are cut by tantivy's simple tokenizer after DuckDB has put a space on
# each side of every character of those scripts (``index._json_document_sql``): the same
# tokens at the same positions (tests/textsearch/test_languages.py checks it), and ~10x faster
# than this regex tokenizer (0.8 MB of captions: 8 ms above a whitespace split, against 98).
TOKEN_PATTERN = (
    rf"[[{CHARACTER_SCRIPTS}]&&{_ALPHANUMERIC}]|[{_ALPHANUMERIC}--[{CHARACTER_SCRIPTS}]]+"
)


def stemmed_languages(counts: dict[str | None, int]) -> list[str]:
    """The languages among ``counts`` (captions per language) with a field of their own,
    besides the default field."""
    total = sum(counts.values())
    return sorted(
        lang
        for lang, count in counts.items()
        if lang in STEMMERS
        and lang != DEFAULT_LANGUAGE
        and count > 0
        and count >= STEMMED_MIN_SHARE * total
    )


def fields_for(stemmed: Iterable[str]) -> tuple[str, ...]:
    """The words fields of an index whose ``stemmed`` languages have fields of their own:
    the default field first."""
    own = {FIELD_PREFIX + lang for lang in stemmed if lang in STEMMERS} - {DEFAULT_FIELD}
    return (DEFAULT_FIELD, *sorted(own))


def all_fields() -> tuple[str, ...]:
    """Every words field there can be."""
    return fields_for(STEMMERS)


def field_name(language: str | None, fields: Iterable[str]) -> str:
    """The field a caption in ``language`` is in, in an index with these words ``fields``."""
    name = FIELD_PREFIX + language if language in STEMMERS else DEFAULT_FIELD
    return name if name in fields else DEFAULT_FIELD


def analyzer_name(field: str) -> str:
    """The name a words field's analyzer is declared with in the schema."""
    return f"loupe_v{ANALYSIS_VERSION}_{field.removeprefix(FIELD_PREFIX)}"


def analyzer(field: str, *, for_queries: bool = True) -> tantivy.TextAnalyzer:
    """The analyzer of a words field (``caption_en``, ``caption_de``, ...): for what people
    type, or (``for_queries=False``) for captions whose CJK characters are spaced apart."""
    tokenizer = (
        tantivy.Tokenizer.regex(TOKEN_PATTERN) if for_queries else tantivy.Tokenizer.simple()
    )
    return (
        tantivy.TextAnalyzerBuilder(tokenizer)
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer(STEMMERS[field.removeprefix(FIELD_PREFIX)]))
        .build()
    )


def register(index: tantivy.Index, *, for_queries: bool = True) -> None:
    """Make every words field's analyzer known to ``index``: before parsing a query, or
    (``for_queries=False``) before writing the spaced captions."""
    for field in all_fields():
        index.register_tokenizer(analyzer_name(field), analyzer(field, for_queries=for_queries))


def add_fields(builder: tantivy.SchemaBuilder, stemmed: Iterable[str]) -> None:
    """Declare the words fields. Positions are indexed: quoted phrases and CJK words (phrases
    of characters) need them."""
    for field in fields_for(stemmed):
        builder.add_text_field(
            field, stored=False, tokenizer_name=analyzer_name(field), index_option="position"
        )


def searched_fields(present: Iterable[str], languages: Iterable[str] | None) -> list[str]:
    """The fields a search looks in: those of ``languages`` when the request keeps only some
    languages (a caption is in one field only), else every field ``present``."""
    present = list(present)
    if languages is None:
        return present
    wanted = {field_name(lang, present) for lang in languages}
    return [f for f in present if f in wanted]


# --- English forms of a query ------------------------------------------------------------------
_local = threading.local()
# A run of letters or digits (Python's \w without the underscore), not followed by ":" (a
# field name), and not one of the query language's operators.
_WORD = re.compile(r"[^\W_]++(?!\s*:)")
_OPERATORS = frozenset({"AND", "OR", "NOT", "IN", "TO"})
# An excluded word ("-dogs", "NOT dogs"): an English form beside it could let it back in.
_EXCLUSION = re.compile(r"(?:^|[\s(])-|\bNOT\b")


def english_forms(text: str) -> str:
    """``text`` with each word replaced by its English stem (``astronauts`` ->
    ``astronaut``), its syntax kept; ``text`` itself when that changes nothing or the text
    excludes words.

    A caption in a stemmed language's field is stemmed by that language, so an English
    caption tagged as Spanish holds ``astronaut`` where the Spanish analysis of
    ``astronauts`` is ``astronauts``: searching that field for the English stems too finds
    it (stemming a stem again leaves it, in the stemmers here)."""
    if _EXCLUSION.search(text):
        return text
    english = getattr(_local, "english", None)
    if english is None:
        english = _local.english = analyzer(DEFAULT_FIELD)

    def stem(match: re.Match[str]) -> str:
        word = match.group(0)
        if word in _OPERATORS:
            return word
        tokens = english.analyze(word)
        return tokens[0] if len(tokens) == 1 else word

    return _WORD.sub(stem, text)

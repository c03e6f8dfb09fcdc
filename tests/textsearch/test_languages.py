"""People's caption searches find plurals, accents, case, stems and CJK words.

A small catalog with captions in several languages is indexed by the real builder and
searched through ``TextIndex``; what each search must find is written out by hand.
"""

from __future__ import annotations

import json

import duckdb
import pytest
import tantivy

from app.catalog.filters import Condition, RecordFilter
from app.textsearch import languages
from app.textsearch.index import _json_document_sql, build_text_index
from app.textsearch.search import TextIndex

# (caption, language); the position is the index in this list.
CAPTIONS: list[tuple[str, str | None]] = [
    ("Astronauts on the moon", "en"),  # 0
    ("an astronaut's helmet", "en"),  # 1
    ("ASTRONAUT portrait", "en"),  # 2
    ("cafe racer motorcycle", "en"),  # 3
    ("red cars parked on the street", "en"),  # 4
    ("Café de Paris", "fr"),  # 5
    ("Les fleurs du jardin", "fr"),  # 6
    ("une fleur rouge", "fr"),  # 7
    ("Häuser am See", "de"),  # 8
    ("Ein Haus im Wald", "de"),  # 9
    ("Blumen im Garten", "de"),  # 10
    ("eine Blume", "de"),  # 11
    ("宇航员在太空", "zh"),  # 12
    ("可爱的猫", "zh"),  # 13
    ("太空中的宇航飞船", "zh"),  # 14: 宇航 but not 宇航员
    ("かわいい猫の写真", "ja"),  # 15
    ("コーヒーカップ 白", "ja"),  # 16
    ("astronaut suit for kids", "es"),  # 17: English words, tagged Spanish
    ("Astronauts training", None),  # 18: no language
    ("kot na kanapie", "pl"),  # 19: a language without a stemmer
    ("the moon on a clear night", "en"),  # 20
    ("Tokyo 東京 skyline at night", "en"),  # 21: CJK inside an English caption
]
ASTRONAUTS = [0, 1, 2, 17, 18]
LANGUAGE_OF = {pos: lang for pos, (_, lang) in enumerate(CAPTIONS)}


def make_catalog(captions: list[tuple[str, str | None]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE records (pos BIGINT, caption VARCHAR, language VARCHAR, similarity FLOAT,"
        " punsafe FLOAT, pwatermark FLOAT, aesthetic FLOAT, width INTEGER, height INTEGER,"
        " domain VARCHAR, license VARCHAR)"
    )
    con.executemany(
        "INSERT INTO records VALUES (?, ?, ?, ?, ?, 0.1, 5.0, 512, 512, 'example.org', '?')",
        [
            (pos, caption, lang, 0.40 - pos / 1000, (pos % 10) / 10)
            for pos, (caption, lang) in enumerate(captions)
        ],
    )
    return con


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> TextIndex:
    folder = tmp_path_factory.mktemp("words")
    build_text_index(make_catalog(CAPTIONS), folder, progress=False, block_bits=2)
    return TextIndex(folder)


def found(index: TextIndex, text: str, **filters) -> list[int]:
    return sorted(index.search(text, RecordFilter(**filters).conditions(), limit=100).positions)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # plurals, case and possessives meet on one stem, in whichever field the caption is
        ("astronauts", ASTRONAUTS),
        ("astronaut", ASTRONAUTS),
        ("Astronauts", ASTRONAUTS),
        ("ASTRONAUT'S", [1]),  # as typed: the phrase astronaut + s
        ("astronauts moon", [0]),  # every word must match
        ("astronauts OR moon", [*ASTRONAUTS, 20]),
        # accents fold away, in both directions
        ("café", [3, 5]),
        ("cafe", [3, 5]),
        ("CAFÉS", [3, 5]),
        # German and French stems (and umlauts)
        ("Blume", [10, 11]),
        ("blumen", [10, 11]),
        ("Haus", [8, 9]),
        ("hauser", [8, 9]),
        ("fleurs", [6, 7]),
        ("fleur", [6, 7]),
        ("car", [4]),
        # Chinese and Japanese: a word is its characters in sequence, one character a term
        ("宇航员", [12]),
        ("宇航", [12, 14]),
        ("猫", [13, 15]),
        ("写真", [15]),
        ("コーヒー", [16]),
        ("東京", [21]),
        ("tokyo 東京", [21]),
        ("宇航员 太空", [12]),
        ("员宇", []),  # the characters, but not in this order
        # a language without a stemmer is folded and still found by its words
        ("kot", [19]),
        ("kanapie", [19]),
    ],
)
def test_people_find_what_they_type(index, text, expected):
    assert found(index, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"on the moon"', [0]),
        ('"the moon on"', [20]),
        ('"moon the on"', []),
        ('"red car"', [4]),  # a phrase of stems
        ('"astronauts on"', [0]),
        ('"宇航员在"', [12]),
    ],
)
def test_quoted_phrases_keep_their_order(index, text, expected):
    assert found(index, text) == expected


@pytest.mark.parametrize(
    ("text", "langs"),
    [
        ("astronauts", ["en"]),
        ("astronauts", ["es"]),
        ("astronauts", ["en", "es"]),
        ("astronauts", ["ja"]),
        ("猫", ["ja"]),
        ("猫", ["zh", "ja"]),
        ("Blume", ["de"]),
        ("kot", ["pl"]),  # no field of its own: searched in the default field
        ("kot", ["en"]),  # the default field, but the language filter still applies
        ("fleur", ["xx"]),  # a language the set does not have
    ],
)
def test_a_language_filter_with_words(index, text, langs):
    everywhere = found(index, text)
    expected = [p for p in everywhere if LANGUAGE_OF[p] in langs]
    assert found(index, text, lang=langs) == expected
    conditions = RecordFilter(lang=langs).conditions()
    assert index.count(text, conditions) == len(expected)


def test_words_with_other_filters_in_every_order(index):
    """The block windows (similarity order) and the best-then-filtered shortcut (relevance
    order with filters) answer with the new fields as the full search does."""
    conditions = RecordFilter(lang=["en", "es"], punsafe_max=0.5).conditions()
    expected = [p for p in ASTRONAUTS if LANGUAGE_OF[p] in ("en", "es") and (p % 10) / 10 <= 0.5]
    by_similarity = index.search("astronauts", conditions, sort="similarity", limit=2)
    assert by_similarity.positions == expected[:2]
    by_relevance = index.search("astronauts", conditions, limit=100)
    assert sorted(by_relevance.positions) == expected
    assert index.count("astronauts", conditions) == len(expected)


def test_relevance_ranks_the_closest_captions_first(index):
    # One word, short captions beat long ones (BM25's length normalisation).
    ranked = index.search("astronaut", [], limit=10).positions
    assert set(ranked) == set(ASTRONAUTS)
    assert ranked[0] in (2, 18)  # two-word captions
    assert ranked[-1] == 17  # the longest, and a form found only through its English stem


def test_facets_and_histograms_count_the_new_matches(index):
    pairs, _ = index.facet("astronauts", "language", [])
    assert dict(pairs) == {"en": 3, "es": 1}  # the caption without a language has no bucket
    histograms, _ = index.histograms("astronauts", [])
    assert sum(histograms["aesthetic"]) == len(ASTRONAUTS)


def test_classroom_words_still_match_the_caption_field_only(index):
    """Hiding words is the ``caption`` field's business (the SQL engine mirrors it): the
    stems of the words fields must not hide more than SQL would."""
    hide = Condition("caption", "without_words", (("astronaut",),))
    assert found(index, "moon") == [0, 20]
    assert sorted(index.search("moon", [hide], limit=100).positions) == [0, 20]  # "Astronauts"
    hide_plural = Condition("caption", "without_words", (("astronauts",),))
    assert sorted(index.search("moon", [hide_plural], limit=100).positions) == [20]


def test_an_index_built_before_the_words_fields_still_answers(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(languages, "fields_for", lambda stemmed: ())
        build_text_index(make_catalog(CAPTIONS), tmp_path, progress=False)
    old = TextIndex(tmp_path)
    assert not old._word_fields
    # Searched in ``caption``, as before: exact tokens only.
    assert found(old, "astronaut") == [1, 2, 17]
    assert found(old, "astronauts") == [0, 18]
    assert found(old, "astronauts", lang=["en"]) == [0]
    assert found(old, '"on the moon"') == [0]
    assert old.count("astronaut", []) == 3


def test_words_fields_of_other_analyzers_are_not_trusted(tmp_path, monkeypatch):
    """An index whose words fields were analysed otherwise (another ANALYSIS_VERSION) is
    searched in ``caption`` rather than with analyzers that would not match its terms."""
    with monkeypatch.context() as patch:
        patch.setattr(languages, "analyzer_name", lambda field: f"older_{field}")
        patch.setattr(
            languages,
            "register",
            lambda index, for_queries=True: [
                index.register_tokenizer(
                    f"older_{f}", languages.analyzer(f, for_queries=for_queries)
                )
                for f in languages.all_fields()
            ],
        )
        build_text_index(make_catalog(CAPTIONS), tmp_path, progress=False)
    other = TextIndex(tmp_path)
    assert not other._word_fields
    assert found(other, "astronauts") == [0, 18]


def test_a_rare_language_goes_to_the_default_field(tmp_path):
    # 300 English captions and one Swedish: under STEMMED_MIN_SHARE, no field of its own.
    captions = [(f"a photo number {i}", "en") for i in range(300)] + [("hundar i parken", "sv")]
    build_text_index(make_catalog(captions), tmp_path, progress=False)
    index = TextIndex(tmp_path)
    assert index._word_fields == [languages.DEFAULT_FIELD]
    assert found(index, "hundar") == [300]
    assert found(index, "hundar", lang=["sv"]) == [300]


def test_every_process_must_register_the_analyzers(index, tmp_path):
    """The analyzers live in code: an index opened bare parses the words fields to nothing
    (a lenient parse) and refuses them (a strict one). TextIndex registers them."""
    folder = tmp_path / "bare"
    build_text_index(make_catalog(CAPTIONS), folder, progress=False)
    bare = tantivy.Index.open(str(folder))
    with pytest.raises(ValueError, match="tokenizer"):
        bare.parse_query("astronauts", [languages.DEFAULT_FIELD])
    languages.register(bare)
    query = bare.parse_query("astronauts", [languages.DEFAULT_FIELD])
    assert bare.searcher().search(query, 10, count=True).count == 4  # en + no language


SCRIPTS = [
    "Tokyo 東京 skyline",
    "宇航员在太空",
    "かわいい猫の写真",
    "コーヒーカップ・ｺｰﾋｰ",  # the long-vowel mark, a middle dot, half-width katakana
    "한국어 문장입니다",
    "々〇 ㈱ ⺀ 「引用」",  # iteration mark, ideographic zero, symbols, brackets
    "Ünïcödé naïve façade Straße",
    "x2-y_z 1.5 ½ Ⅻ ١٢٣",  # digits of several kinds, underscore
    "Ελληνικά русский العربية हिन्दी ไทย",
    "e\u0301 combining accent, emoji 🐱 and ｆｕｌｌｗｉｄｔｈ",
    "abc東def 東abc",
]


@pytest.mark.parametrize("field", [languages.DEFAULT_FIELD, "caption_de", "caption_ru"])
def test_spaced_captions_and_typed_words_give_the_same_tokens(field):
    """Captions are indexed by the simple tokenizer after DuckDB spaced out their CJK
    characters; queries are cut by the regex tokenizer: both must give the same tokens."""
    con = make_catalog([(text, "en") for text in SCRIPTS])
    document = _json_document_sql(16, [languages.DEFAULT_FIELD])
    documents = con.sql(f"SELECT {document} FROM records ORDER BY pos").fetchall()  # noqa: S608
    indexing = languages.analyzer(field, for_queries=False)
    querying = languages.analyzer(field)
    for text, (document,) in zip(SCRIPTS, documents, strict=True):
        spaced = json.loads(document)[languages.DEFAULT_FIELD]
        assert indexing.analyze(spaced) == querying.analyze(text), text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("astronauts", "astronaut"),
        ("white cats", "white cat"),
        ('"red cars" OR dogs', '"red car" OR dog'),
        ("Cafés AND flowers", "cafe AND flower"),
        ("caption:cats", "caption:cat"),  # a field name is kept
        ("cat -dogs", "cat -dogs"),  # an exclusion: left as typed
        ("cats NOT dogs", "cats NOT dogs"),
        ("width:[10 TO 20] cats", "width:[10 TO 20] cat"),
        ("宇航员 cats", "宇航员 cat"),  # CJK runs are several tokens: left as typed
        ("black", "black"),
    ],
)
def test_english_forms(text, expected):
    assert languages.english_forms(text) == expected


@pytest.mark.parametrize(
    ("counts", "stemmed"),
    [
        ({"en": 900, "de": 60, "fr": 40}, ["de", "fr"]),
        ({"en": 1000, "sv": 4, "ja": 100, None: 50}, []),  # sv under 0.5 %; ja has no stemmer
        ({"de": 10}, ["de"]),
        ({}, []),
    ],
)
def test_which_languages_get_a_field(counts, stemmed):
    assert languages.stemmed_languages(counts) == stemmed
    assert languages.fields_for(stemmed)[0] == languages.DEFAULT_FIELD

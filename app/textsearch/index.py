"""Build the tantivy full-text index of a catalog's captions.

The filterable columns are also stored as fast fields in the text index, so that a caption
search with filters, its count, facets and histograms are answered by tantivy alone; DuckDB
is only asked for the rows of the page (by ``pos``). Feeding thousands of text hits back into
DuckDB as ids costs hundreds of milliseconds at 10M rows; this costs a few.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import duckdb
import tantivy
from tqdm import tqdm

from app.catalog.schema import FACET_COLUMNS, SAMPLE_RATE, SCORE_COLUMNS, SIZE_COLUMNS
from app.textsearch import languages

FLOAT_FIELDS: tuple[str, ...] = SCORE_COLUMNS
INT_FIELDS: tuple[str, ...] = SIZE_COLUMNS
KEYWORD_FIELDS: tuple[str, ...] = FACET_COLUMNS
CAPTION_FIELD = "caption"
BATCH_ROWS = 50_000
# ``block`` = pos >> BLOCK_BITS: a search in the catalog's order (similarity, highest first)
# tries the first blocks before all of them, and a block's postings list drives the
# intersection, so a word in a million captions costs what the first 65,536 rows do.
BLOCK_BITS = 16
# ``sampled`` = 1 on the rows of the catalog's 1 % sample (hash(pos) % SAMPLE_RATE = 0):
# facets and histograms of a search with hundreds of thousands of hits are estimated there.
SAMPLED_FIELD = "sampled"
BLOCK_FIELD = "block"


def text_schema(stemmed: Iterable[str] = ()) -> tantivy.Schema:
    """The index's fields: ``stemmed`` names the languages with a words field of their own
    (``app.textsearch.languages``); every other caption is in the default one."""
    builder = tantivy.SchemaBuilder()
    # Positions, for phrases: classroom words such as "red bicycle". This field is what the
    # SQL engine mirrors (app.textsearch.analysis); people's words search the fields below.
    builder.add_text_field(
        CAPTION_FIELD, stored=False, tokenizer_name="default", index_option="position"
    )
    languages.add_fields(builder, stemmed)
    builder.add_unsigned_field("pos", stored=False, indexed=True, fast=True)
    builder.add_unsigned_field(BLOCK_FIELD, stored=False, indexed=True, fast=False)
    builder.add_unsigned_field(SAMPLED_FIELD, stored=False, indexed=True, fast=False)
    for name in FLOAT_FIELDS:
        builder.add_float_field(name, stored=False, indexed=True, fast=True)
    for name in INT_FIELDS:
        builder.add_unsigned_field(name, stored=False, indexed=True, fast=True)
    for name in KEYWORD_FIELDS:
        builder.add_text_field(name, stored=False, tokenizer_name="raw", fast=True)
    return builder.build()


def build_text_index(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    progress: bool = True,
    table: str = "records",
    block_bits: int = BLOCK_BITS,
) -> float:
    """Index every row of ``table`` into ``out_dir``; returns the seconds it took.

    ``table`` must be in catalog order (``pos`` ascending = similarity descending): searches
    in that order rely on it (see ``BLOCK_BITS``)."""
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = dict(con.sql(f"SELECT language, count(*) FROM {table} GROUP BY ALL").fetchall())
    stemmed = languages.stemmed_languages(counts)
    fields = languages.fields_for(stemmed)
    index = tantivy.Index(text_schema(stemmed), path=str(out_dir))
    # Before the writer, which analyses with the index's analyzers.
    languages.register(index, for_queries=False)
    writer = index.writer(heap_size=256_000_000, num_threads=0)
    total = con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    document = _json_document_sql(block_bits, fields)
    reader = con.sql(f"SELECT {document} FROM {table}").to_arrow_reader(BATCH_ROWS)
    with tqdm(total=total, unit="rows", desc="text index", disable=not progress) as bar:
        for batch in reader:
            for document in batch.column(0).to_pylist():
                writer.add_json(document)
            bar.update(batch.num_rows)
    writer.commit()
    writer.wait_merging_threads()
    return time.perf_counter() - started


def _json_document_sql(block_bits: int, word_fields: Iterable[str] = ()) -> str:
    """One JSON document per row, built by DuckDB (vectorised, ~10x faster than Python).

    ``concat_ws`` skips NULL parts, so absent values are left out: tantivy treats an absent
    fast field as NULL, which is what the SQL range filters do too. The caption is written a
    second time, to the words field of its language among ``word_fields``
    (``app.textsearch.languages``), or to the default field.
    """
    parts = [
        "'\"pos\":' || pos",
        f"'\"{BLOCK_FIELD}\":' || (pos >> {int(block_bits)})",
        f"CASE WHEN hash(pos) % {SAMPLE_RATE} = 0 THEN '\"{SAMPLED_FIELD}\":1' END",
        "'\"caption\":' || to_json(caption)",
    ]
    word_fields = list(word_fields)
    if word_fields:
        # Names and codes come from languages.STEMMERS, never from the data.
        choices = " ".join(
            f"WHEN '{name.removeprefix(languages.FIELD_PREFIX)}' THEN '{name}'"
            for name in word_fields
            if name != languages.DEFAULT_FIELD
        )
        default = f"'{languages.DEFAULT_FIELD}'"
        field = f"CASE language::VARCHAR {choices} ELSE {default} END" if choices else default
        # One space each side of every CJK character: the simple tokenizer then cuts them one
        # by one (languages.TOKEN_PATTERN does the same to what people type).
        spaced = f"regexp_replace(caption, '([{languages.CHARACTER_SCRIPTS}])', ' \\1 ', 'g')"
        parts.append(f"'\"' || {field} || '\":' || to_json({spaced})")
    for name in FLOAT_FIELDS:
        parts.append(f"CASE WHEN isfinite({name}) THEN '\"{name}\":' || {name}::DOUBLE END")
    for name in INT_FIELDS:
        # Not greatest(x, 0) alone: DuckDB's greatest() skips NULLs, so NULL would become 0.
        parts.append(f"CASE WHEN {name} IS NOT NULL THEN '\"{name}\":' || greatest({name}, 0) END")
    for name in KEYWORD_FIELDS:
        parts.append(f"'\"{name}\":' || to_json({name})")
    return "'{' || concat_ws(',', " + ", ".join(parts) + ") || '}'"

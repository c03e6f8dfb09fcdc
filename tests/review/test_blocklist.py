"""Blocklist files: every format and kind, detection by column name and by shape, bad files."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.review.blocklist import read_blocklist
from app.review.errors import BlocklistFormatError, InvalidInput
from app.review.store import ReviewStore

MD5 = [hashlib.md5(f"img{i}".encode()).hexdigest() for i in range(3)]
SHA = [hashlib.sha256(f"img{i}".encode()).hexdigest() for i in range(3)]
URLS = [f"https://example.org/{i}.jpg" for i in range(3)]
URL_SHA = [hashlib.sha256(u.encode()).hexdigest() for u in URLS]
IDS = ["1001", "1002", "1003"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def write_parquet(path: Path, columns: dict[str, pa.Array]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


# (file name, maker, expected kind, expected values, expected column)
CASES = [
    ("ids.txt", lambda p: write(p, "\n".join(IDS) + "\n"), "sample_id", IDS, None),
    (
        "md5.txt",
        lambda p: write(p, "# removed\n\n" + "\n".join(m.upper() for m in MD5)),
        "md5",
        MD5,
        None,
    ),
    ("sha.txt", lambda p: write(p, "\n".join(SHA)), "hex64", SHA, None),
    ("urls.txt", lambda p: write(p, "\n".join(URLS)), "url_sha256", URL_SHA, None),
    (
        "hdr.txt",
        lambda p: write(p, "url_sha256\n" + "\n".join(URL_SHA)),
        "url_sha256",
        URL_SHA,
        "url_sha256",
    ),
    (
        "ids.txt.gz",
        lambda p: p.write_bytes(gzip.compress("\n".join(IDS).encode())),
        "sample_id",
        IDS,
        None,
    ),
    (
        "laion.csv",
        lambda p: write(
            p,
            "\ufeffSAMPLE_ID,URL,TEXT\n"
            + "".join(f'{i},{u},"a, b"\n' for i, u in zip(IDS, URLS, strict=True)),
        ),
        "sample_id",
        IDS,
        "SAMPLE_ID",
    ),
    (
        "hashes.csv",
        lambda p: write(p, "url_sha256,note\n" + "".join(f"{h},x\n" for h in URL_SHA)),
        "url_sha256",
        URL_SHA,
        "url_sha256",
    ),
    (
        "img.csv",
        lambda p: write(p, "image_md5\n" + "\n".join(MD5) + "\n\n"),
        "md5",
        MD5,
        "image_md5",
    ),
    ("bare.csv", lambda p: write(p, "\n".join(SHA) + "\n"), "hex64", SHA, None),
    (
        "urls.csv",
        lambda p: write(p, "id_of_row,url\n" + "".join(f"x{n},{u}\n" for n, u in enumerate(URLS))),
        "url_sha256",
        URL_SHA,
        "url",
    ),
    (
        "image.tsv",
        lambda p: write(p, "caption\tsha256\n" + "".join(f"c\t{h}\n" for h in SHA)),
        "sha256",
        SHA,
        "sha256",
    ),
    (
        "laion.parquet",
        lambda p: write_parquet(
            p, {"SAMPLE_ID": pa.array([1001, 1002, 1003], pa.int64()), "URL": pa.array(URLS)}
        ),
        "sample_id",
        IDS,
        "SAMPLE_ID",
    ),
    (
        "float_ids.parquet",
        lambda p: write_parquet(p, {"SAMPLE_ID": pa.array([1001.0, None, 1002.0, 1003.0])}),
        "sample_id",
        IDS,
        "SAMPLE_ID",
    ),
    (
        "urlhash.parquet",
        lambda p: write_parquet(p, {"url_sha256": pa.array(URL_SHA)}),
        "url_sha256",
        URL_SHA,
        "url_sha256",
    ),
    (
        "binary_md5.parquet",
        lambda p: write_parquet(
            p, {"md5": pa.array([bytes.fromhex(m) for m in MD5], pa.binary(16))}
        ),
        "md5",
        MD5,
        "md5",
    ),
    ("single.parquet", lambda p: write_parquet(p, {"value": pa.array(MD5)}), "md5", MD5, "value"),
    ("no_suffix", lambda p: write_parquet(p, {"hash": pa.array(SHA)}), "hex64", SHA, "hash"),
]


@pytest.mark.parametrize(
    ("name", "make", "kind", "values", "column"), CASES, ids=[c[0] for c in CASES]
)
def test_formats_and_kinds(tmp_path: Path, name, make, kind, values, column) -> None:
    path = tmp_path / name
    make(path)
    parsed = read_blocklist(path)
    assert (parsed.kind, parsed.values, parsed.column) == (kind, values, column)


def test_kind_option_overrides_detection(tmp_path: Path) -> None:
    path = write(tmp_path / "sha.txt", "\n".join(SHA))
    assert read_blocklist(path, "sha256").kind == "sha256"
    assert read_blocklist(path, "url_sha256").kind == "url_sha256"
    # Ids that happen to look like hashes can be declared ids.
    assert read_blocklist(path, "sample_id").kind == "sample_id"
    both = write(
        tmp_path / "both.csv",
        "md5,sha256\n" + "".join(f"{m},{s}\n" for m, s in zip(MD5, SHA, strict=True)),
    )
    assert read_blocklist(both).values == SHA  # sha256 ranks above md5
    assert read_blocklist(both, "md5").values == MD5


def broken_parquet(path: Path) -> None:
    path.write_bytes(b"PAR1 this is not really parquet")


MALFORMED = [
    ("empty.txt", lambda p: write(p, ""), "no entries found"),
    ("comments.txt", lambda p: write(p, "# nothing\n\n"), "no entries found"),
    ("empty.csv", lambda p: write(p, ""), "the file is empty"),
    ("mixed.txt", lambda p: write(p, f"{MD5[0]}\n1234\n"), "mixes kinds"),
    (
        "badmd5.csv",
        lambda p: write(p, f"md5\n{MD5[0]}\nnot-a-hash\n"),
        "line 3: 'not-a-hash' is not an image MD5",
    ),
    ("wide.csv", lambda p: write(p, "a,b\n1,2\n"), "no header naming SAMPLE_ID"),
    ("ragged.csv", lambda p: write(p, "caption,sample_id\nc,1\nonly-one\n"), "line 3 has no value"),
    ("latin1.txt", lambda p: p.write_bytes(b"caf\xe9\n"), "not UTF-8"),
    ("control.txt", lambda p: write(p, "ok\nbad\x01id\n"), "line 2"),
    ("broken.parquet", broken_parquet, "not a readable parquet file"),
    (
        "wide.parquet",
        lambda p: write_parquet(p, {"a": pa.array([1]), "b": pa.array([2])}),
        "none of the columns",
    ),
    ("frac.parquet", lambda p: write_parquet(p, {"SAMPLE_ID": pa.array([1.5])}), "row 1"),
    ("hashcol.csv", lambda p: write(p, "hash\nabc\n"), "is not an MD5 or SHA-256"),
    ("badurl.csv", lambda p: write(p, "url\nftp://x\n"), "is not a URL"),
]


@pytest.mark.parametrize(("name", "make", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_files_fail_clearly(tmp_path: Path, name, make, message) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(BlocklistFormatError) as caught:
        read_blocklist(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_missing_file_and_wrong_kind(tmp_path: Path) -> None:
    with pytest.raises(BlocklistFormatError, match="no such file"):
        read_blocklist(tmp_path / "nope.csv")
    path = write(tmp_path / "ids.txt", "\n".join(IDS))
    with pytest.raises(BlocklistFormatError, match="line 1: '1001' is not an image MD5"):
        read_blocklist(path, "md5")
    with pytest.raises(InvalidInput, match="unknown blocklist kind"):
        read_blocklist(path, "crc32")


def test_entry_cap(tmp_path: Path) -> None:
    path = write(tmp_path / "ids.txt", "\n".join(str(i) for i in range(11)))
    with pytest.raises(BlocklistFormatError, match="more than 10 entries"):
        read_blocklist(path, max_entries=10)


def test_import_stores_list_once_with_audit(store: ReviewStore, tmp_path: Path) -> None:
    path = write(tmp_path / "urls.txt", "\n".join(URLS + URLS[:1]))
    version = store.safety.version()
    result = store.blocklists.import_file(path, actor="carol")
    assert not result.already_imported
    blocklist = result.blocklist
    assert (blocklist.kind, blocklist.entries, blocklist.dataset) == ("url_sha256", 3, None)
    assert sorted(store.blocklists.entries(blocklist.id)) == sorted(URL_SHA)
    assert store.safety.version() > version
    (entry,) = store.audit.entries(action="blocklist.import")
    assert entry.actor == "carol" and entry.new["entries"] == 3

    again = store.blocklists.import_file(path, actor="carol")
    assert again.already_imported and again.blocklist.id == blocklist.id
    scoped = store.blocklists.import_file(path, actor="carol", dataset="tiny")
    assert not scoped.already_imported and scoped.blocklist.dataset == "tiny"
    assert [b.id for b in store.blocklists.lists("tiny")] == [blocklist.id, scoped.blocklist.id]
    assert [b.id for b in store.blocklists.lists("other")] == [blocklist.id]


def test_import_refuses_bad_dataset_name(store: ReviewStore, tmp_path: Path) -> None:
    path = write(tmp_path / "ids.txt", "\n".join(IDS))
    with pytest.raises(InvalidInput, match="invalid dataset name"):
        store.blocklists.import_file(path, actor="carol", dataset="../etc")
    assert store.blocklists.lists() == []

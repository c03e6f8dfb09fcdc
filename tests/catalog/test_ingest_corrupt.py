"""Corrupt sources at ingest: one sentence naming the file, the previous dataset untouched —
also when the ingest is killed with SIGKILL at any moment.

(Text files, empty files, missing columns and string scores are in test_ingest.py; these are
the damaged-file cases and the kill.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from app.build import build_dataset
from app.catalog.ingest import IngestError
from app.catalog.manifest import read_manifest
from app.explore.datasets import survey
from tests.factories import laion_table

ROOT = Path(__file__).resolve().parents[2]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """A good parquet file and damaged copies of it."""
    folder = tmp_path_factory.mktemp("sources")
    good = folder / "good.parquet"
    pq.write_table(laion_table(3000), good, row_group_size=500)
    data = good.read_bytes()
    garbled = bytearray(data)
    for i in range(len(garbled) // 4, len(garbled) // 2, 3):
        garbled[i] ^= 0xFF
    made = {
        "good": good,
        "truncated": data[: len(data) // 2],
        "footer only kept": data[: len(data) // 3] + data[-8:],
        "garbled pages": bytes(garbled),
    }
    for name, content in list(made.items()):
        if isinstance(content, bytes):
            path = folder / f"{name.replace(' ', '-')}.parquet"
            path.write_bytes(content)
            made[name] = path
    wrong = laion_table(50)
    captions = pa.array(list(range(50)), pa.int64())  # TEXT as numbers
    made["caption as numbers"] = folder / "numbers.parquet"
    pq.write_table(
        wrong.set_column(wrong.schema.get_field_index("TEXT"), "TEXT", captions),
        made["caption as numbers"],
    )
    made["width as words"] = folder / "words.parquet"
    width = pa.array(["wide"] * 50)
    pq.write_table(
        wrong.set_column(wrong.schema.get_field_index("WIDTH"), "WIDTH", width),
        made["width as words"],
    )
    made["no URL column"] = folder / "no-url.parquet"
    pq.write_table(wrong.drop_columns(["URL"]), made["no URL column"])
    return made  # type: ignore[return-value]


@pytest.fixture(scope="module")
def previous(sources, tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("data") / "indexes"
    build_dataset(data_dir, "laion", [sources["good"]], progress=False)
    return data_dir


@pytest.mark.parametrize(
    "case, expected",
    [
        ("truncated", "is cut short (a parquet file whose footer is missing)"),
        ("footer only kept", "cannot be read as parquet"),
        ("garbled pages", "cannot be loaded"),
        ("width as words", "holds VARCHAR, not numbers"),
        ("no URL column", "has no column 'URL'"),
    ],
)
def test_a_damaged_source_is_named_and_the_previous_dataset_kept(case, expected, sources, previous):
    before = snapshot(previous / "laion")
    with pytest.raises(IngestError) as raised:
        build_dataset(previous, "laion", [sources["good"], sources[case]], progress=False)
    message = str(raised.value)
    assert str(sources[case]) in message and expected in message, message
    assert "\n" not in message
    assert snapshot(previous / "laion") == before
    assert [p.name for p in previous.iterdir()] == ["laion"]  # no temp folder left behind


def test_captions_of_another_type_are_read_as_text(sources, tmp_path):
    """A TEXT column of numbers is not refused: a caption is whatever text the crawler kept."""
    manifest = build_dataset(tmp_path / "d", "n", [sources["caption as numbers"]], progress=False)
    assert manifest.row_count == 50


def test_the_command_says_it_in_one_line_and_exits_2(sources, previous):
    from app.cli import app

    result = CliRunner().invoke(
        app,
        ["ingest", "laion", str(sources["truncated"]), "--no-progress"],
        env={"LOUPE_DATA_DIR": str(previous), "LOUPE_STATE_DIR": str(previous.parent / "s")},
    )
    assert result.exit_code == 2
    assert str(sources["truncated"]) in result.output and "cut short" in result.output
    assert "Traceback" not in result.output


KILLED_INGEST = """
import sys
from pathlib import Path
from app.build import build_dataset
build_dataset(Path(sys.argv[1]), "laion", [Path(sys.argv[2])], progress=False)
print("done", flush=True)
"""


@pytest.mark.slow
def test_sigkill_during_ingest_leaves_the_previous_version_whole(tmp_path):
    """A real ingest, in its own process, killed with SIGKILL at moments spread over its run:
    the dataset folder is the previous version, byte for byte, or the new one, whole — never
    a mixture, never missing — and the next ingest is not hindered by what was left."""
    data_dir = tmp_path / "indexes"
    small, big = tmp_path / "small.parquet", tmp_path / "big.parquet"
    pq.write_table(laion_table(200), small)
    pq.write_table(laion_table(150_000, seed=3), big, row_group_size=20_000)
    build_dataset(data_dir, "laion", [small], progress=False)
    before = snapshot(data_dir / "laion")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", KILLED_INGEST, str(data_dir), str(big)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    # How long a whole ingest takes here (the machine is shared: measured, not assumed).
    started = time.monotonic()
    run = start()
    assert run.wait(timeout=300) == 0, run.stderr.read().decode()[-2000:]
    full = time.monotonic() - started
    new_manifest = read_manifest(data_dir / "laion" / "manifest.json")
    assert new_manifest.row_count == 150_000
    # Back to the previous version for the kills.
    build_dataset(data_dir, "laion", [small], progress=False)
    before = snapshot(data_dir / "laion")

    outcomes = []
    for fraction in (0.15, 0.35, 0.55, 0.75, 0.9):
        proc = start()
        time.sleep(full * fraction)
        os.kill(proc.pid, signal.SIGKILL)
        # On a loaded machine a run may finish before the kill lands: then it must have
        # left the new version whole, which is checked below like a kill after the swap.
        assert proc.wait(timeout=30) in (-signal.SIGKILL, 0)
        found, problems = survey(data_dir)
        assert list(found) == ["laion"] and problems == {}
        rows = read_manifest(data_dir / "laion" / "manifest.json").row_count
        if rows == 200:
            assert snapshot(data_dir / "laion") == before
            outcomes.append("previous")
        else:  # killed after the swap: the new version, whole
            assert rows == 150_000
            outcomes.append("new")
            build_dataset(data_dir, "laion", [small], progress=False)
            before = snapshot(data_dir / "laion")
        visible = [p.name for p in data_dir.iterdir() if not p.name.startswith(".")]
        assert visible == ["laion"]
    assert "previous" in outcomes  # at least one kill landed mid-build
    # What a killed build leaves (``.laion.tmp-*``) does not stop the next one.
    assert build_dataset(data_dir, "laion", [big], progress=False).row_count == 150_000

"""PDQ perceptual hashes of images, and matching them against hash lists by Hamming distance.

Exact hashes (MD5, SHA-256) of image bytes stop matching as soon as a copy is re-encoded or
resized: 15 % of LAION's MD5s no longer match when the same URLs are downloaded again
(img2dataset issue 258). Hash-sharing programmes therefore also exchange perceptual hashes;
PDQ (Meta ThreatExchange) is the open one: 256 bits compared by Hamming distance, 31 or less
being a "confident match", unrelated pictures near 128, and a quality of 0..100 with each hash.

The hash is computed with numpy alone, following Meta's C++ reference
(``pdq/cpp/hashing/pdqhashing.cpp`` and ``downscaling.cpp``) step by step:

1. luminance ``0.299 R + 0.587 G + 0.114 B`` in float32;
2. a box filter of window ``ceil(side / 128)`` run twice along rows and columns (the
   "Jarosz filter"), then the sample at the centre of each of 64 x 64 cells;
3. quality: the sum of the 64 x 64 picture's gradients, each truncated to a whole percent of
   255, divided by 90 and capped at 100;
4. DCT-II coefficients 1..16 x 1..16 of the 64 x 64 picture;
5. one bit per coefficient, set when it is above the median of the 256.

Step 2 is linear: each of the 64 samples along a side is a fixed weighted sum of the ~side/64
pixels around it, so the blur-and-decimate is two banded products (cached per side length)
that read each pixel once, instead of four filter passes over the whole picture. The result
equals the reference bit for bit, quality included, on the demo's scikit-image pictures and
on edge cases (64 x 64, 5 x 7, 33 rows, under 5 px): ``tests/images/test_phash.py`` holds those
values, computed with ``pdqhash`` 0.2.8 (the Python binding of the C++ code).

Why not depend on ``pdqhash``: it has no wheels on PyPI, so every install compiles C++. That
fails where there is no compiler (the project's ``python:3.11-slim`` image), and the build
takes Cython and setuptools unpinned from the registry, since ``pip install -c
requirements.lock`` does not reach pip's isolated build environment (measured; see
``docs/perceptual-hashing.md``).
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

# _to_rgb is the one place that decides how odd modes become RGB (alpha on white, 16-bit
# scaled down); the thumbnails and the hashes agree because both use it.
from app.images.decode import ImageRefused, _to_rgb, decode_image

PHASH_KIND: Final = "pdq"
HASH_BITS: Final = 256
HASH_BYTES: Final = HASH_BITS // 8
HEX_LENGTH: Final = HASH_BITS // 4
# ThreatExchange's PDQ_CONFIDENT_MATCH_THRESHOLD: at or below it a match is "confident".
CONFIDENT_DISTANCE: Final = 31
# Below this quality a picture is too plain (flat colour, a faint gradient) for its hash to
# mean much; ThreatExchange's vPDQ drops frames under the same figure. Advisory: hashes of
# every quality are computed and stored, callers decide what to match.
MIN_QUALITY: Final = 50
# The reference refuses pictures smaller than this on either side (hash all zero, quality 0).
MIN_SIDE: Final = 5
# Pictures more than twice this on a side are box-reduced by a whole factor (to between
# HASH_SIDE and 2 * HASH_SIDE - 1 px) before hashing, and JPEGs that large are decoded at a
# reduced scale: it bounds memory (40 M pixels would be 160 MB of float luminance) and time
# (a 4500 px JPEG: 176 ms to decode in full, 42 ms reduced). Cost in bits, measured on nine
# demo pictures upscaled to 2100-4500 px: 0-12 from the exact hash, median 2. Smaller
# pictures are hashed exactly. (Meta's C++ file hasher squeezes anything over 512 px to
# 512 x 512 first, so reference tools disagree among themselves for large pictures.)
HASH_SIDE: Final = 1024
PDQ_FILE = "pdq.npz"

_HEX = re.compile(r"[0-9a-fA-F]{64}")

_GRID = 64
_DCT_SIZE = 16
# Pairs of (query, list) hashes compared per numpy step: 2^17 pairs make 1 MiB of uint64
# scratch, reused. Measured on the 2-core machine, 10k x 100k random hashes: 2^15 2.3 ns a
# pair, 2^16 2.0, 2^17 1.6, 2^18 1.7.
_PAIRS_PER_STEP = 1 << 17


@dataclass(frozen=True, slots=True)
class PerceptualHash:
    """A PDQ hash as 64 lower-case hex digits (the reference's own text form) and its quality."""

    hex: str
    quality: int

    def digest(self) -> bytes:
        """The 32 bytes, in the order of the hex digits."""
        return bytes.fromhex(self.hex)


def perceptual_hash(image: Image.Image) -> PerceptualHash:
    """The PDQ hash of a decoded picture, in any Pillow mode.

    Greyscale is hashed as is, as the reference does. Every other mode goes through the
    conversion the thumbnails use (``app.images.decode``): alpha composited on white, 16-bit
    and float greyscale scaled into 8 bits, palette and CMYK converted to RGB. One rule for
    what a picture looks like, but not everyone's: python-threatexchange hashes the RGB
    channels and ignores alpha, which on the demo's transparent PNG (matplotlib's gift
    picture) gives a hash 78 bits away. Opaque pictures are not affected. Raises
    ``ValueError`` for a mode Pillow cannot turn into RGB.
    """
    luma = _luminance(_reduce_large(image))
    digest, quality = _pdq_from_luma(luma)
    return PerceptualHash(digest.hex(), quality)


def hash_bytes(data: bytes, max_pixels: int) -> PerceptualHash | None:
    """The PDQ hash of encoded image bytes, or None when ``decode_image`` refuses them.

    Decoding goes through ``app.images.decode.decode_image``, so the pixel limit, the format
    list and EXIF orientation are those of everything else Loupe shows (python-threatexchange
    hashes the stored orientation; a photo rotated by its EXIF tag hashes ~128 bits away from
    its upright self). JPEGs over ``2 * HASH_SIDE`` px are decoded at a reduced scale.
    """
    try:
        image = decode_image(data, max_pixels, target=HASH_SIDE)
    except ImageRefused:
        return None
    return perceptual_hash(image)


def parse_hex(value: str) -> bytes:
    """The 32 bytes of a hash written as 64 hex digits (either case, surrounding spaces ignored).

    Raises ``ValueError`` saying what is wrong, so an import can report the line.
    """
    if not isinstance(value, str):
        raise ValueError(
            f"a PDQ hash is a string of {HEX_LENGTH} hex digits, not {type(value).__name__}"
        )
    text = value.strip()
    if len(text) != HEX_LENGTH:
        raise ValueError(
            f"a PDQ hash has {HEX_LENGTH} hex digits; {_show(text)} has {len(text)} characters"
        )
    # A pattern rather than bytes.fromhex alone, which would also accept spaces between bytes.
    if not _HEX.fullmatch(text):
        raise ValueError(
            f"a PDQ hash has only the hex digits 0-9 and a-f; {_show(text)} has others"
        )
    return bytes.fromhex(text)


def hamming(a: bytes | str, b: bytes | str) -> int:
    """Bits that differ between two hashes, given as 32 bytes or 64 hex digits."""
    left = parse_hex(a) if isinstance(a, str) else a
    right = parse_hex(b) if isinstance(b, str) else b
    if len(left) != HASH_BYTES or len(right) != HASH_BYTES:
        raise ValueError(f"a PDQ hash has {HASH_BYTES} bytes")
    return (int.from_bytes(left, "big") ^ int.from_bytes(right, "big")).bit_count()


class HashSet:
    """Many PDQ hashes, packed as four uint64 words each, for matching by Hamming distance.

    Matching is exhaustive (every query against every hash), done ``_PAIRS_PER_STEP`` pairs
    at a time so memory stays at a few MiB whatever the sizes. Each step counts the bits of
    the first two words only (half the hash) and finishes the distance only for pairs whose
    half-distance is already within the limit: unrelated halves differ by ~64 bits, so almost
    no pair survives and the work is nearly halved. Measured on the 2-core development machine
    (``bench/phash.py``): see ``docs/perceptual-hashing.md``.
    """

    __slots__ = ("_words",)

    def __init__(self, words: np.ndarray) -> None:
        words = np.ascontiguousarray(words, dtype=np.uint64)
        if words.ndim != 2 or words.shape[1] != HASH_BYTES // 8:
            raise ValueError(f"packed hashes have shape (n, 4), not {words.shape}")
        self._words = words

    @classmethod
    def from_hex(cls, values: Iterable[str]) -> HashSet:
        """A set from hex strings; raises ``ValueError`` (with the position) on a bad one."""
        raw = bytearray()
        for index, value in enumerate(values):
            try:
                raw += parse_hex(value)
            except ValueError as exc:
                raise ValueError(f"hash {index}: {exc}") from None
        return cls.from_bytes(np.frombuffer(bytes(raw), dtype=np.uint8).reshape(-1, HASH_BYTES))

    @classmethod
    def from_bytes(cls, hashes: np.ndarray) -> HashSet:
        """A set from an ``(n, 32)`` uint8 array (as ``read_hashes`` returns)."""
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8)
        if hashes.ndim != 2 or hashes.shape[1] != HASH_BYTES:
            raise ValueError(f"hashes have shape (n, {HASH_BYTES}), not {hashes.shape}")
        # Byte order within a word does not matter: XOR and popcount see the same bits.
        return cls(hashes.view(np.uint64))

    def __len__(self) -> int:
        return int(self._words.shape[0])

    @property
    def words(self) -> np.ndarray:
        """The packed ``(n, 4)`` uint64 array (read it, don't change it)."""
        return self._words

    def hex(self, index: int) -> str:
        return self._words[index].tobytes().hex()

    def iter_matches(
        self,
        query_hashes: HashSet | np.ndarray | Sequence[str],
        max_distance: int = CONFIDENT_DISTANCE,
        workers: int = 1,
    ) -> Iterator[np.ndarray]:
        """Matches as ``(k, 3)`` int64 arrays of (query index, list index, distance).

        One array per block of queries, in query order; within a block ordered by query then
        list index. ``workers`` > 1 runs blocks on threads (numpy releases the GIL).
        """
        queries = _as_hash_set(query_hashes)._words
        if not 0 <= max_distance <= HASH_BITS:
            raise ValueError(f"max_distance must be within 0..{HASH_BITS}, not {max_distance}")
        n_list = len(self)
        if n_list == 0 or queries.shape[0] == 0:
            return
        list_block = max(1, min(n_list, _PAIRS_PER_STEP // 8))
        query_block = max(1, _PAIRS_PER_STEP // list_block)
        starts = range(0, queries.shape[0], query_block)

        def run(start: int) -> np.ndarray:
            return _match_block(
                queries[start : start + query_block], start, self._words, list_block, max_distance
            )

        if workers <= 1:
            for start in starts:
                yield run(start)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            # Bounded look-ahead: at most 2 blocks per worker are pending at any time.
            pending: list = []
            for start in starts:
                pending.append(pool.submit(run, start))
                if len(pending) >= 2 * workers:
                    yield pending.pop(0).result()
            for future in pending:
                yield future.result()

    def matches(
        self,
        query_hashes: HashSet | np.ndarray | Sequence[str],
        max_distance: int = CONFIDENT_DISTANCE,
        workers: int = 1,
    ) -> list[tuple[int, int, int]]:
        """Every (query index, list index, distance) with distance <= ``max_distance``.

        Ordered by query index, then list index. Hashes of plain pictures (quality under
        ``MIN_QUALITY``, all-zero hashes of pictures under 5 px) match each other freely; keep
        them out of the list, or out of the queries, when that is not wanted.
        """
        out: list[tuple[int, int, int]] = []
        for block in self.iter_matches(query_hashes, max_distance, workers):
            out.extend((int(q), int(i), int(d)) for q, i, d in block)
        return out


def write_hashes(
    folder: Path, positions: np.ndarray, hashes: np.ndarray, quality: np.ndarray
) -> Path:
    """Store one dataset's hashes as ``folder/pdq.npz``, atomically; returns the file's path.

    ``positions`` (int64) are the records' row positions, ``hashes`` an ``(n, 32)`` uint8
    array, ``quality`` uint8 0..100. Written to a temporary file in the same folder, flushed
    to disk, then renamed over the old file: a reader sees the old set or the new, never half.
    Uncompressed: the hashes are random bits and would not shrink (32 + 8 + 1 bytes a record,
    41 MB per million).
    """
    positions = np.asarray(positions)
    hashes = np.asarray(hashes)
    quality = np.asarray(quality)
    n = positions.shape[0]
    if positions.ndim != 1 or not np.issubdtype(positions.dtype, np.integer):
        raise ValueError("positions must be a 1-D integer array")
    if hashes.shape != (n, HASH_BYTES) or hashes.dtype != np.uint8:
        raise ValueError(f"hashes must be uint8 of shape ({n}, {HASH_BYTES}), not {hashes.shape}")
    if quality.shape != (n,) or (n and (quality.min() < 0 or quality.max() > 100)):
        raise ValueError(f"quality must be {n} values within 0..100")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PDQ_FILE
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".pdq-", suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(
                handle,
                kind=np.array(PHASH_KIND),
                positions=positions.astype(np.int64),
                hashes=hashes,
                quality=quality.astype(np.uint8),
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def read_hashes(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(positions int64, hashes (n, 32) uint8, quality uint8)`` from ``folder/pdq.npz``.

    Raises ``FileNotFoundError`` naming the file when there is none, ``ValueError`` when the
    file holds something else.
    """
    path = folder / PDQ_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: no perceptual hashes for this dataset")
    with np.load(path, allow_pickle=False) as data:
        if "kind" not in data or str(data["kind"]) != PHASH_KIND:
            raise ValueError(f"{path} does not hold {PHASH_KIND} hashes")
        positions, hashes, quality = data["positions"], data["hashes"], data["quality"]
    n = positions.shape[0]
    if hashes.shape != (n, HASH_BYTES) or quality.shape != (n,):
        raise ValueError(f"{path} is inconsistent: {n} positions, hashes {hashes.shape}")
    return positions, hashes, quality


# ---------------------------------------------------------------------------------------------
# Hashing


def _reduce_large(image: Image.Image) -> Image.Image:
    longest = max(image.size)
    factor = longest // HASH_SIDE
    if factor < 2:
        return image
    if image.mode not in ("L", "RGB"):
        image = _to_rgb(image)
    # Image.reduce averages factor x factor blocks: a box filter, as the PDQ blur is.
    return image.reduce(factor)


def _luminance(image: Image.Image) -> np.ndarray:
    """Float32 luminance; Pillow's RGB -> F conversion is exactly (299 R + 587 G + 114 B) / 1000."""
    if image.mode == "L":
        return np.asarray(image, dtype=np.float32)
    if image.mode != "RGB":
        try:
            image = _to_rgb(image)
        except (ValueError, OSError) as exc:
            raise ValueError(f"cannot hash a picture in mode {image.mode}: {exc}") from None
    return np.asarray(image.convert("F"), dtype=np.float32)


def _pdq_from_luma(luma: np.ndarray) -> tuple[bytes, int]:
    rows, cols = luma.shape
    if rows < MIN_SIDE or cols < MIN_SIDE:
        return bytes(HASH_BYTES), 0
    # Blur and decimate as two banded products. Plain numpy (einsum) rather than BLAS: the
    # products are tiny, and OpenBLAS waking its threads for them cost 10-40x the work itself
    # on the busy 2-core machine (2-20 ms against 0.3-0.8 ms per 512 px picture).
    row_index, row_weight = _bands(rows)
    col_index, col_weight = _bands(cols)
    reduced = np.einsum("ik,ikw->iw", row_weight, luma[row_index])  # 64 x cols
    grid = np.einsum("jl,ijl->ij", col_weight, reduced[:, col_index])  # the reference's 64 x 64
    quality = _quality(grid)
    dct = _dct_matrix()
    coefficients = np.einsum("il,jl->ij", np.einsum("ik,kl->il", dct, grid), dct)  # 16 x 16
    # Torben's median of 256 values as the reference computes it: the 128th smallest.
    median = np.partition(coefficients.ravel(), 127)[127]
    bits = coefficients > median
    # Bit i*16+j of the reference's Hash256 is bit j of word i, and its hex form writes word
    # 15 first, most significant bit first: reverse both axes and pack big-endian.
    return np.packbits(bits[::-1, ::-1].ravel()).tobytes(), quality


def _quality(grid: np.ndarray) -> int:
    """The reference's gradient-sum quality: each step truncated to an integer percent of 255."""
    down = np.trunc((grid[:-1, :] - grid[1:, :]) * np.float32(100) / np.float32(255))
    across = np.trunc((grid[:, :-1] - grid[:, 1:]) * np.float32(100) / np.float32(255))
    total = int(np.abs(down).sum(dtype=np.int64)) + int(np.abs(across).sum(dtype=np.int64))
    return min(total // 90, 100)


@lru_cache(maxsize=256)
def _bands(length: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each of the 64 samples along a side of ``length`` pixels reads, and with what weight.

    The reference blurs with ``box1DFloat`` twice (window ``ceil(length / 128)``, shrinking at
    the edges, each output the mean of the inputs it covers) and keeps input
    ``int((i + 0.5) * length / 64)`` as sample ``i``. Both steps are linear: sample ``i`` is a
    weighted sum of the ~``length / 64`` pixels around it. Returns ``(index, weight)``, both
    ``(64, k)``, rows padded with weight 0; built once per length in well under a millisecond.
    """
    window = (length + 2 * _GRID - 1) // (2 * _GRID)
    select = np.zeros((_GRID, length), dtype=np.float64)
    centres = ((np.arange(_GRID) + 0.5) * length / _GRID).astype(np.int64)
    select[np.arange(_GRID), centres] = 1.0
    dense = _box_rows(_box_rows(select, window), window)  # (64, length), mostly zeros
    nonzero = dense != 0
    first = nonzero.argmax(axis=1)
    last = length - 1 - nonzero[:, ::-1].argmax(axis=1)
    width = int((last - first).max()) + 1
    wanted = first[:, None] + np.arange(width)[None, :]
    index = np.minimum(wanted, length - 1)  # padding reads a real pixel, with weight 0
    weight = np.take_along_axis(dense, index, axis=1)
    weight[wanted > last[:, None]] = 0.0
    index.flags.writeable = False
    weight = weight.astype(np.float32)
    weight.flags.writeable = False
    return index, weight


def _box_rows(matrix: np.ndarray, window: int) -> np.ndarray:
    """``matrix @ B`` for the reference's box filter ``B`` (rows of B: one output each).

    Output ``o`` of ``box1DFloat`` averages inputs ``o - (window - half) .. o + half - 1``
    (clipped to the vector), with ``half = (window + 2) // 2``. So column ``j`` of
    ``matrix @ B`` gathers ``matrix[:, o] / count(o)`` over the outputs ``o`` whose span holds
    ``j``: ``o`` in ``j - (half - 1) .. j + (window - half)``, a sliding sum done with cumsum.
    """
    length = matrix.shape[1]
    half = (window + 2) // 2
    before, after = window - half, half - 1
    outputs = np.arange(length)
    count = np.minimum(outputs + after, length - 1) - np.maximum(outputs - before, 0) + 1
    scaled = matrix / count
    cumulative = np.concatenate([np.zeros((matrix.shape[0], 1)), scaled.cumsum(axis=1)], axis=1)
    lo = np.maximum(outputs - after, 0)
    hi = np.minimum(outputs + before, length - 1) + 1
    return cumulative[:, hi] - cumulative[:, lo]


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    """The reference's 16 x 64 DCT-II rows 1..16 (row 0, the mean, is left out)."""
    i = np.arange(1, _DCT_SIZE + 1)[:, None]
    j = np.arange(_GRID)[None, :]
    scale = math.sqrt(2.0 / _GRID)
    return (scale * np.cos((math.pi / 2 / _GRID) * i * (2 * j + 1))).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Matching


def _as_hash_set(value: HashSet | np.ndarray | Sequence[str]) -> HashSet:
    if isinstance(value, HashSet):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == np.uint64:
            return HashSet(value)
        return HashSet.from_bytes(value)
    return HashSet.from_hex(value)


def _match_block(
    queries: np.ndarray, offset: int, listed: np.ndarray, list_block: int, max_distance: int
) -> np.ndarray:
    """Matches of one block of queries against the whole list, as (query, list, distance) rows."""
    found: list[np.ndarray] = []
    q0, q1 = queries[:, 0:1], queries[:, 1:2]
    first, second = listed[:, 0], listed[:, 1]
    # Scratch arrays reused for every list block (out=): allocating them each step, and
    # letting numpy create temporaries, made matching ~2.5x slower (4.0 -> 1.6 ns a pair).
    xor = np.empty((queries.shape[0], list_block), dtype=np.uint64)
    half = np.empty((queries.shape[0], list_block), dtype=np.uint8)
    bits = np.empty((queries.shape[0], list_block), dtype=np.uint8)
    near = np.empty((queries.shape[0], list_block), dtype=bool)
    for start in range(0, listed.shape[0], list_block):
        stop = min(start + list_block, listed.shape[0])
        width = stop - start
        x, h, c, n = xor[:, :width], half[:, :width], bits[:, :width], near[:, :width]
        # Half the hash first (uint8 holds the at most 128 bits two words can differ by).
        np.bitwise_xor(q0, first[start:stop], out=x)
        np.bitwise_count(x, out=h)
        np.bitwise_xor(q1, second[start:stop], out=x)
        np.bitwise_count(x, out=c)
        h += c
        np.less_equal(h, max_distance, out=n)
        if not n.any():
            continue
        qi, li = np.nonzero(n)
        rest = np.bitwise_count(queries[qi, 2] ^ listed[li + start, 2]).astype(np.int64)
        rest += np.bitwise_count(queries[qi, 3] ^ listed[li + start, 3])
        distance = h[qi, li].astype(np.int64) + rest
        keep = distance <= max_distance
        found.append(np.stack([qi[keep] + offset, li[keep] + start, distance[keep]], axis=1))
    if not found:
        return np.empty((0, 3), dtype=np.int64)
    out = np.concatenate(found)
    return out[np.lexsort((out[:, 1], out[:, 0]))]


def _show(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")

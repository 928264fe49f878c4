"""The perceptual hash of a picture (cvgallery.perceptual), taken by `process` from the web
copy it has just encoded and stored in images.phash, for near-duplicate groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Fingerprint, Made, register_fingerprint

if TYPE_CHECKING:
    from PIL import Image

    from ..catalog import Catalog
    from ..config import SiteConfig


def _stage(_config: SiteConfig) -> str:
    return "web-optimized"


def _options(_config: SiteConfig) -> dict[str, Any]:
    return {}


def _compute(im: Image.Image, _options: dict[str, Any]) -> str:
    from ..perceptual import hash_to_hex, perceptual_hash  # numpy: only when hashing

    return hash_to_hex(perceptual_hash(im))


def _store(catalog: Catalog, image_id: str, _made: Made, value: Any) -> None:
    catalog.images.set_phash(image_id, str(value))


register_fingerprint(Fingerprint("phash", _stage, _options, _compute, _store))

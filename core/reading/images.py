"""Untrusted image files and uploads into RGB pictures, or an error a visitor can read.

:func:`load_image` reads bytes or a file into an RGB ``PIL.Image`` or raises :class:`ImageError`
(non-image, truncated, too large, decompression bomb), checking the size limits before decoding;
:func:`content_hash` names a photo by its bytes (the vision cache's key and its sampling seed).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_BYTES = 30 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000

ImageSource = Path | str | bytes


# What can be wrong with an image input, as English text for the person who sent it.
IMAGE_PROBLEMS = {
    "unreadable": "cannot read the file ({cause})",
    "file_too_large": "the file is {size_mb:.1f} MB, more than the {limit_mb:.1f} MB limit",
    "empty": "the file is empty",
    "too_many_pixels": "the picture has {width} x {height} pixels ({found:g} megapixels), more "
    "than the {megapixels:g} megapixel limit; a smaller copy of it will do",
    "far_too_large": "the image is far too large to open ({cause})",
    "not_an_image": "not an image, or an unsupported image format",
    "damaged": "the image is damaged or truncated ({cause})",
}


class ImageError(ValueError):
    """An input that is not a usable image; the message is meant for the person who sent it.

    ``reason`` (a key of ``IMAGE_PROBLEMS``) and its ``details`` let an interface say the same
    in another language; ``source`` is the file, or None for uploaded bytes.
    """

    def __init__(self, reason: str, source: str | None, **details: object) -> None:
        self.reason, self.source, self.details = reason, source, details
        where = source or "uploaded image"
        super().__init__(f"{where}: {IMAGE_PROBLEMS[reason].format(**details)}")


def load_image(
    source: ImageSource,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Read an untrusted file or upload into an RGB image, or raise :class:`ImageError`.

    Limits are checked before decoding: the file size against ``max_bytes``, then the dimensions in
    the header against ``max_pixels`` (a tiny PNG can declare a 100,000 x 100,000 canvas).
    Grayscale, palette, CMYK, 16-bit and alpha images become RGB (transparency composited on
    white, as a viewer shows it), an animation becomes its first frame, and a phone photo is
    turned upright by its EXIF orientation.
    """
    return _decode(_read(source, max_bytes), _describe(source), max_pixels)


def content_hash(source: ImageSource) -> str:
    """SHA-256 of the image file's bytes (hex): the cache key and the sampling seed of a photo."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    try:
        with open(source, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as error:
        raise ImageError("unreadable", _describe(source), cause=error.strerror) from error


def _describe(source: ImageSource) -> str | None:
    """The file named in an image's errors; None for uploaded bytes."""
    return None if isinstance(source, bytes) else str(source)


def _read(source: ImageSource, max_bytes: int) -> bytes:
    label = _describe(source)
    if isinstance(source, bytes):
        data, size = source, len(source)
    else:
        try:
            with open(source, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                data = handle.read(max_bytes + 1) if size <= max_bytes else b""
        except OSError as error:
            raise ImageError("unreadable", label, cause=error.strerror) from error
        size = max(size, len(data))  # a file may grow after fstat
    if size > max_bytes:
        raise ImageError("file_too_large", label, size_mb=size / 2**20, limit_mb=max_bytes / 2**20)
    if not data:
        raise ImageError("empty", label)
    return data


def _decode(
    data: bytes, label: str | None, max_pixels: int, reduced_side: int | None = None
) -> Image.Image:
    """Decode the first frame, upright, as RGB; see :func:`load_image`.

    With ``reduced_side``, shrink by an integer factor while keeping the shorter side at least
    that long (a JPEG is then decoded directly at 1/2, 1/4 or 1/8 scale, several times faster).
    """
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
        width, height = image.size
        if width * height > max_pixels:
            raise ImageError(
                "too_many_pixels",
                label,
                width=width,
                height=height,
                found=round(width * height / 1e6, 1),
                megapixels=max_pixels / 1e6,
            )
        if reduced_side:
            image.draft(None, (reduced_side, reduced_side))
        image.load()
        image = _to_rgb(ImageOps.exif_transpose(image))
        if reduced_side and min(image.size) >= 2 * reduced_side:
            image = image.reduce(min(image.size) // reduced_side)
        return image
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageError("far_too_large", label, cause=error) from error
    except UnidentifiedImageError as error:
        raise ImageError("not_an_image", label) from error
    except Exception as error:  # malformed files make Pillow raise OSError, SyntaxError, ...
        raise ImageError("damaged", label, cause=error) from error


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I"):
        # 16-bit grayscale (PNG, TIFF): convert("RGB") would clip everything above 255 to white.
        values = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" or "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")

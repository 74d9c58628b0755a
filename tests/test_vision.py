"""Specification of core.reading.images, core.reading.backbones and core.reading.vision: photos ->
ImageNet probabilities -> visual words.

Runs the real SqueezeNet and EfficientNet-Lite0 weights (core/assets) on real photos
(tests/fixtures/images); each model is built once per module.
"""

from __future__ import annotations

import hashlib
import io
import struct
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import core.reading.backbones as backbones  # through `core`: BigARTM loads before TensorFlow
import core.reading.vision as vision
from core.reading.images import ImageError, content_hash, load_image
from core.settings import DEFAULT_BACKBONE, Settings

FIXTURES = Path(__file__).parent / "fixtures" / "images"
# ImageNet-1k classes 151..268 are the dog breeds.
DOG_BREEDS = {vision.visual_token(i) for i in range(151, 269)}


@pytest.fixture(scope="module", params=["squeezenet", "efficientnet_lite0"])
def backbone(request: pytest.FixtureRequest) -> backbones.Backbone:
    """Every shipped backbone passes the same contract."""
    return backbones.load_backbone(request.param)


@pytest.fixture(scope="module")
def photos() -> dict[str, Path]:
    return {path.stem: path for path in sorted(FIXTURES.glob("*.jpg"))}


@pytest.fixture(scope="module")
def probs(backbone: backbones.Backbone, photos: dict[str, Path]) -> dict[str, np.ndarray]:
    rows = backbone.predict([load_image(path) for path in photos.values()])
    return dict(zip(photos, rows, strict=True))


def names(pairs: list[tuple[str, float]]) -> list[str]:
    return [vision.visual_display(token) for token, _ in pairs]


class CountingBackbone(backbones.Backbone):
    """A real backbone that records how many images it was asked to classify."""

    def __init__(self, inner: backbones.Backbone) -> None:
        self.inner = inner
        self.name = inner.name
        self.batches: list[int] = []

    def predict(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.batches.append(len(images))
        return self.inner.predict(images)


def png_header(width: int, height: int) -> bytes:
    """A valid PNG of a few dozen bytes that declares a ``width`` x ``height`` canvas."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def encoded(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


# --------------------------------------------------------------------------- backbone


def test_given_photos_when_predicted_then_each_gets_1000_probabilities_summing_to_one(
    backbone: backbones.Backbone, photos: dict[str, Path]
) -> None:
    result = backbone.predict([load_image(path) for path in photos.values()])

    assert result.shape == (len(photos), 1000)
    assert result.dtype == np.float32
    assert np.all(result >= 0)
    np.testing.assert_allclose(result.sum(axis=1), 1.0, atol=1e-5)


def test_given_no_photos_when_predicted_then_an_empty_table(backbone: backbones.Backbone) -> None:
    assert backbone.predict([]).shape == (0, 1000)


def test_given_a_dog_photo_then_the_top5_contains_a_dog_breed(
    probs: dict[str, np.ndarray],
) -> None:
    top5 = vision.top_classes(probs["dog"], k=5)

    assert {token for token, _ in top5} & DOG_BREEDS, names(top5)


@pytest.mark.parametrize(
    ("photo", "word"),
    [("tiger", "tiger"), ("horse", "horse"), ("flamingo", "flamingo"), ("daisy", "daisy")],
)
def test_given_an_animal_or_flower_photo_then_the_top_class_names_it(
    probs: dict[str, np.ndarray], photo: str, word: str
) -> None:
    top = vision.top_classes(probs[photo], k=1)

    assert word in names(top)[0].lower()


def test_given_several_threads_when_they_predict_at_once_then_each_gets_the_same_answer(
    backbone: backbones.Backbone, photos: dict[str, Path], probs: dict[str, np.ndarray]
) -> None:
    dog = load_image(photos["dog"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: backbone.predict([dog])[0], range(8)))

    for result in results:
        np.testing.assert_allclose(result, probs["dog"], atol=1e-5)


def test_given_the_same_settings_twice_then_the_same_backbone_object_is_shared() -> None:
    assert backbones.load_backbone(Settings()) is backbones.load_backbone(DEFAULT_BACKBONE)


def test_given_an_unknown_backbone_name_then_a_value_error_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="squeezenet"):
        backbones.load_backbone("alexnet")


def test_given_no_inception_weights_then_the_error_says_where_to_put_them(tmp_path: Path) -> None:
    missing = tmp_path / "inception_v3.h5"

    with pytest.raises(backbones.BackboneUnavailable) as error:
        backbones.load_backbone(Settings(backbone="inception_v3", inception_weights=missing))

    message = str(error.value)
    assert str(missing) in message
    assert "TOPICSEARCH_INCEPTION_WEIGHTS" in message
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels.h5" in message


def test_given_preloaded_photos_when_throughput_is_measured_then_it_reports_images_per_second(
    backbone: backbones.Backbone, photos: dict[str, Path]
) -> None:
    images = [load_image(path) for path in photos.values()]

    report = backbones.measure_throughput(backbone, images, batch_size=3)

    assert report["images"] == len(images)
    assert report["images_per_second"] > 0
    assert report["ms_per_image"] == pytest.approx(1000 / report["images_per_second"])


# --------------------------------------------------------------------------- visual vocabulary


def test_visual_tokens_are_the_wordnet_ids_of_the_1000_imagenet_classes() -> None:
    vocabulary = vision.visual_vocabulary()

    assert len(vocabulary) == len(set(vocabulary)) == 1000
    assert vision.visual_token(281) == vocabulary[281] == "n02123045"
    assert vision.visual_display("n02123045") == "tabby cat"


def test_given_an_unknown_class_then_a_value_error() -> None:
    with pytest.raises(ValueError):
        vision.visual_token(1000)
    with pytest.raises(ValueError):
        vision.visual_display("tabby")


# Babel-ImageNet's Russian names of well-known classes, as the source writes them (its spelling
# "еспрессо" included), minus stress marks: a list shifted by even one class fails here.
RUSSIAN_NAMES = {
    0: "линь",  # tench
    1: "Золотая рыбка",  # goldfish
    2: "большая белая акула",  # great white shark
    9: "страус",  # ostrich
    22: "белоголовый орлан",  # bald eagle
    99: "гусь",  # goose
    281: "полосатая кошка",  # tabby cat
    291: "лев",  # lion
    292: "тигр",  # tiger
    293: "гепард",  # cheetah
    414: "рюкзак",  # backpack
    430: "баскетбольный мяч",  # basketball
    882: "пылесос",  # vacuum cleaner
    963: "пицца",  # pizza
    967: "еспрессо",  # espresso
    980: "вулкан",  # volcano
    999: "туалетная бумага",  # toilet paper
}


@pytest.mark.parametrize(("index", "name"), sorted(RUSSIAN_NAMES.items()))
def test_given_russian_then_known_classes_have_their_russian_names(index: int, name: str) -> None:
    assert vision.visual_display(vision.visual_token(index), "ru") == name


def test_the_russian_list_names_748_classes_without_stress_marks() -> None:
    names = [
        vision.visual_display(token, "ru", "-".__add__) for token in vision.visual_vocabulary()
    ]

    assert sum(not name.startswith("-") for name in names) == 748
    assert not [name for name in names if "\u0301" in name]


def test_given_a_class_without_a_russian_name_then_its_english_name_is_marked() -> None:
    tiger_cat = vision.visual_token(282)

    assert vision.visual_display(tiger_cat, "ru", lambda name: f"{name} (англ.)") == (
        f"{vision.visual_display(tiger_cat)} (англ.)"
    )
    assert vision.visual_display(tiger_cat, "ru") == vision.visual_display(tiger_cat)


def test_given_a_language_without_a_list_then_a_value_error() -> None:
    with pytest.raises(ValueError, match="'de'"):
        vision.visual_display("n02123045", "de")


def test_given_a_shifted_russian_list_then_loading_it_fails(monkeypatch, tmp_path: Path) -> None:
    lines = vision.TRANSLATED_NAMES["ru"].read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t", 1) for line in lines if line[:1].isdigit()]
    indices, rests = zip(*rows, strict=True)
    moved = [f"{index}\t{rest}" for index, rest in zip(indices, rests[1:] + rests[:1], strict=True)]
    shifted = tmp_path / "names.tsv"
    shifted.write_text("index\twnid\tenglish\trussian\n" + "\n".join(moved))
    monkeypatch.setitem(vision.TRANSLATED_NAMES, "ru", shifted)
    vision._translated_names.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="class 0 is not"):
            vision.visual_display("n02123045", "ru")
    finally:
        vision._translated_names.cache_clear()


# --------------------------------------------------------------------------- flattening


def test_given_peaky_probabilities_when_flattened_then_more_classes_matter_and_the_top_stays(
    probs: dict[str, np.ndarray],
) -> None:
    for photo, row in probs.items():
        flat = vision.flatten_probabilities(row)

        assert flat.argmax() == row.argmax(), photo
        assert (flat > 1e-3).sum() > (row > 1e-3).sum(), photo
        assert flat.sum() == pytest.approx(1.0)


def test_given_more_strength_then_more_spread(probs: dict[str, np.ndarray]) -> None:
    counts = [(vision.flatten_probabilities(probs["horse"], s) > 1e-3).sum() for s in (1, 2, 3)]

    assert counts == sorted(counts)
    assert counts[0] < counts[2]


def test_given_strength_zero_then_flattening_is_the_identity(probs: dict[str, np.ndarray]) -> None:
    np.testing.assert_array_equal(vision.flatten_probabilities(probs["dog"], 0), probs["dog"])


def test_given_a_batch_then_each_row_is_flattened_as_on_its_own(
    probs: dict[str, np.ndarray],
) -> None:
    batch = np.stack(list(probs.values()))

    flat = vision.flatten_probabilities(batch)

    for row, flat_row in zip(batch, flat, strict=True):
        np.testing.assert_allclose(flat_row, vision.flatten_probabilities(row))


@pytest.mark.parametrize(
    ("values", "strength"),
    [(np.full(999, 1e-3), 2), (np.full(1000, 1e-3), -1), (-np.full(1000, 1e-3), 2)],
)
def test_given_invalid_input_then_flattening_raises_value_error(
    values: np.ndarray, strength: int
) -> None:
    with pytest.raises(ValueError):
        vision.flatten_probabilities(values, strength)


# --------------------------------------------------------------------------- sampling


def test_given_the_same_seed_then_the_same_visual_words(probs: dict[str, np.ndarray]) -> None:
    seed = content_hash(FIXTURES / "dog.jpg")

    first = vision.sample_visual_words(probs["dog"], seed=seed)
    second = vision.sample_visual_words(probs["dog"], seed=seed)
    other = vision.sample_visual_words(probs["dog"], seed="another photo")

    assert first == second
    assert first != other


def test_given_n_samples_then_the_counts_sum_to_it_over_known_tokens(
    probs: dict[str, np.ndarray],
) -> None:
    words = vision.sample_visual_words(probs["tiger"], seed=7, n_samples=300)

    assert sum(words.values()) == 300
    assert set(words) <= set(vision.visual_vocabulary())
    assert list(words.values()) == sorted(words.values(), reverse=True)
    assert len(words) > 3, "flattening should bring in more than a handful of classes"


@pytest.mark.parametrize("kwargs", [{"n_samples": 0}, {"strength": -1}, {"seed": -1}])
def test_given_invalid_sampling_parameters_then_a_value_error(
    probs: dict[str, np.ndarray], kwargs: dict[str, int]
) -> None:
    with pytest.raises(ValueError):
        vision.sample_visual_words(probs["dog"], **{"seed": 1, **kwargs})


# --------------------------------------------------------------------------- vectorizer


def test_given_a_second_run_then_every_vector_comes_from_the_cache(
    backbone: backbones.Backbone, photos: dict[str, Path], tmp_path: Path
) -> None:
    sources = list(photos.values())
    counting = CountingBackbone(backbone)
    vectorizer = vision.ImageVectorizer(counting, tmp_path, batch_size=4)
    progress: list[tuple[int, int]] = []

    first = vectorizer.probabilities(
        sources, progress=lambda done, total: progress.append((done, total))
    )

    assert counting.batches == [4, 2]
    assert progress == [(4, 6), (6, 6)]
    digest = content_hash(sources[0])
    assert (tmp_path / "vision" / backbone.name / digest[:2] / f"{digest}.npy").is_file()

    counting.batches.clear()
    progress.clear()
    second = vectorizer.probabilities(
        sources, progress=lambda done, total: progress.append((done, total))
    )

    assert counting.batches == []
    assert progress == [(6, 6)]
    np.testing.assert_array_equal(first, second)
    assert first.shape == (6, 1000)
    np.testing.assert_allclose(first.sum(axis=1), 1.0, atol=1e-5)


def test_given_a_damaged_cache_entry_then_that_photo_is_recomputed(
    backbone: backbones.Backbone, photos: dict[str, Path], tmp_path: Path
) -> None:
    counting = CountingBackbone(backbone)
    vectorizer = vision.ImageVectorizer(counting, tmp_path)
    first = vectorizer.probabilities([photos["horse"]])
    digest = content_hash(photos["horse"])
    entry = tmp_path / "vision" / backbone.name / digest[:2] / f"{digest}.npy"
    entry.write_bytes(entry.read_bytes()[:100])

    second = vectorizer.probabilities([photos["horse"]])

    assert counting.batches == [1, 1]
    np.testing.assert_array_equal(first, second)


def test_given_the_same_photo_as_path_and_bytes_then_it_is_computed_once(
    backbone: backbones.Backbone, photos: dict[str, Path], tmp_path: Path
) -> None:
    counting = CountingBackbone(backbone)
    vectorizer = vision.ImageVectorizer(counting, tmp_path)

    result = vectorizer.probabilities([photos["dog"], photos["dog"].read_bytes()])

    assert counting.batches == [1]
    np.testing.assert_array_equal(result[0], result[1])
    assert content_hash(photos["dog"]) == content_hash(photos["dog"].read_bytes())
    assert content_hash(photos["dog"]) == hashlib.sha256(photos["dog"].read_bytes()).hexdigest()


def test_given_an_unreadable_file_then_the_error_names_it_or_on_error_skips_it(
    backbone: backbones.Backbone, photos: dict[str, Path], tmp_path: Path
) -> None:
    broken = tmp_path / "notes.jpg"
    broken.write_text("not a photo")
    vectorizer = vision.ImageVectorizer(backbone, tmp_path / "cache")

    with pytest.raises(ImageError, match=r"notes\.jpg"):
        vectorizer.probabilities([photos["dog"], broken])

    failures: list[tuple[int, ImageError]] = []
    result = vectorizer.probabilities(
        [photos["dog"], broken, photos["tiger"]],
        on_error=lambda position, error: failures.append((position, error)),
    )

    assert [position for position, _ in failures] == [1]
    assert np.isnan(result[1]).all()
    assert not np.isnan(result[[0, 2]]).any()


# --------------------------------------------------------------------------- loading images


def test_given_an_empty_file_then_image_error_says_it_is_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.touch()

    with pytest.raises(ImageError, match="empty"):
        load_image(empty)


def test_given_a_truncated_jpeg_then_image_error(photos: dict[str, Path]) -> None:
    data = photos["dog"].read_bytes()

    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(data[: len(data) // 2])


def test_given_a_text_file_named_jpg_then_image_error_says_it_is_not_an_image(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "cat.jpg"
    fake.write_text("I am a cat, honest.\n")

    with pytest.raises(ImageError, match="not an image") as error:
        load_image(fake)
    assert "cat.jpg" in str(error.value)


@pytest.mark.parametrize("side", [8_000, 100_000])  # over our limit; over Pillow's
def test_given_a_tiny_png_declaring_a_huge_canvas_then_image_error_before_decoding(
    side: int,
) -> None:
    bomb = png_header(side, side)
    start = time.perf_counter()

    with pytest.raises(ImageError, match=r"large|limit"):
        load_image(bomb)
    assert time.perf_counter() - start < 1.0


def test_given_a_file_over_the_size_limit_then_image_error(photos: dict[str, Path]) -> None:
    with pytest.raises(ImageError, match="limit"):
        load_image(photos["dog"], max_bytes=1000)


def test_given_a_missing_file_then_image_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nowhere\.jpg"):
        load_image(tmp_path / "nowhere.jpg")


def test_given_images_in_other_modes_then_they_load_as_rgb() -> None:
    gray16 = Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16))
    transparent = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    frames = [Image.new("RGB", (8, 8), color) for color in ("blue", "red")]
    animated = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    sources = {
        "grayscale": encoded(Image.new("L", (8, 8), 128), "PNG"),
        "cmyk": encoded(Image.new("CMYK", (8, 8), (0, 255, 0, 0)), "JPEG"),
        "16-bit": encoded(gray16, "PNG"),
        "palette": encoded(Image.new("P", (8, 8)), "PNG"),
        "alpha": encoded(transparent, "PNG"),
        "animated": animated,
    }

    loaded = {kind: load_image(data) for kind, data in sources.items()}

    assert {image.mode for image in loaded.values()} == {"RGB"}
    assert loaded["16-bit"].getpixel((0, 0)) == (127, 127, 127)  # not clipped to white
    assert loaded["alpha"].getpixel((0, 0)) == (255, 255, 255)  # transparent shows as white
    assert loaded["animated"].getpixel((0, 0))[2] > 200  # the first (blue) frame


def test_given_efficientnet_lite0_then_16_mbconv_blocks_from_32_to_320_filters() -> None:
    blocks = backbones.efficientnet_lite_blocks(0)

    assert len(blocks) == 16
    assert blocks[0][3] == 32 and blocks[-1][4] == 320
    assert [stride for _, stride, *_ in blocks].count(2) == 4


def test_given_an_unknown_efficientnet_lite_variant_then_a_value_error() -> None:
    with pytest.raises(ValueError, match="variant"):
        backbones.efficientnet_lite_blocks(7)

"""Specification of the neighbour levers of core.serving.annotation: 2PKNN's per-word
neighbourhoods, the learned visual distance and the topic distance as a second view, on the real
build of the built-in collection (see conftest)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.reading.text import TAG
from core.reading.twins import tag_twins
from core.serving.annotation import AnnotationParams, fit_visual_weights
from core.serving.answers import AnnotationRequest
from core.serving.engine import Query
from core.serving.reader import expected_visual_words

TRANSFER_ONLY = AnnotationParams(transfer_weight=1.0, class_name_weight=0.0, class_name_caption=0.0)
TWO_PASSES = AnnotationParams(
    transfer_weight=1.0,
    class_name_weight=0.0,
    class_name_caption=0.0,
    label_neighbours=1,
    distance_decay=1.0,
)


def photo_distances(engine, image: Path, params: AnnotationParams) -> np.ndarray:
    """The photo's distance to every document, as annotation measures it."""
    transfer = engine.annotation.annotator.transfer
    visual = expected_visual_words(engine.reader.probabilities(image), engine.reader.params)
    weights = engine.annotation.default_weights
    theta = engine.reader.inferencer.transform({"@visual": Counter(visual)}, weights).theta
    return transfer.distances(params, visual, theta, weights)


def tag_scores(engine, image: Path, params: AnnotationParams) -> dict[str, float]:
    k = len(engine.model.phi[TAG].tokens)
    found = engine.annotation.annotate(
        AnnotationRequest(Query(image=image), [TAG], k, params=params)
    )
    return {a.token: a.p for a in found[TAG]}


def test_given_a_rare_tag_far_down_the_ranking_then_2pknn_still_weighs_its_own_example(
    service, built
):
    # given a held-out photo and a hashtag with a single example in the collection, that
    # example beyond the photo's nearest documents
    engine = service.active().engine
    image = Path(built.held_out[0].image)
    distances = photo_distances(engine, image, TRANSFER_ONLY)
    order = [row for row in np.argsort(distances, kind="stable") if np.isfinite(distances[row])]
    labels = engine.annotation.annotator.transfer.words(TAG)
    examples = np.diff(labels.tocsc().indptr)
    tokens = engine.model.phi[TAG].tokens
    slot = tag_twins().slot
    near = {
        slot(tokens[col])
        for row in order[: TRANSFER_ONLY.neighbours]
        for col in labels[row].indices
    }
    rare = next(
        slot(tokens[col])
        for row in order[TRANSFER_ONLY.neighbours :]
        for col in labels[row].indices
        if examples[col] == 1 and slot(tokens[col]) not in near
    )
    # when annotated by the nearest documents' ranked votes and by 2PKNN's two passes
    ranked = tag_scores(engine, image, TRANSFER_ONLY)
    two_passes = tag_scores(engine, image, TWO_PASSES)
    # then only 2PKNN gives that hashtag a vote: its own example was pooled
    assert ranked.get(rare, 0.0) == pytest.approx(0.0, abs=1e-12)
    assert two_passes[rare] > 1e-6


def test_given_a_collection_photo_then_2pknn_with_a_steep_decay_copies_its_nearest_document(
    service,
):
    # given a photo that is itself a document of the collection, with hashtags
    engine = service.active().engine
    doc = next(d for d in engine.documents if d.image and d.tags)
    image = Path(doc.image)
    distances = photo_distances(engine, image, TWO_PASSES)
    nearest = int(np.argmin(distances))
    slot = tag_twins().slot
    tokens = engine.model.phi[TAG].tokens
    own = {
        slot(tokens[c]) for c in engine.annotation.annotator.transfer.words(TAG)[nearest].indices
    }
    # when each word's nearest example votes by exp(-1000 x distance)
    steep = replace(TWO_PASSES, distance_decay=1000.0)
    scores = tag_scores(engine, image, steep)
    # then the nearest document's hashtags come first
    top = sorted(scores, key=lambda t: -scores[t])[: len(own)]
    assert set(top) == own


def test_given_the_collections_hashtags_then_the_learned_distance_brings_photos_sharing_one_nearer(
    service,
):
    # given the documents' visual words and hashtags
    transfer = service.active().engine.annotation.annotator.transfer
    visual, tags = transfer._visual, transfer.words(TAG)
    # when the visual words' weights are fitted on them
    weights = fit_visual_weights(visual, tags)
    # then the weights are positive, and pairs of documents sharing a hashtag are nearer
    # relative to pairs sharing none than by plain L1
    assert (weights > 0).all()
    dense = visual.toarray()
    shared = (tags @ tags.T).toarray() > 0
    usable = (dense.sum(axis=1) > 0) & (np.diff(tags.indptr) > 0)
    rows = np.flatnonzero(usable)
    pairs = shared[np.ix_(rows, rows)] & ~np.eye(len(rows), dtype=bool)
    apart = ~shared[np.ix_(rows, rows)]

    def ratio(by_word: np.ndarray) -> float:
        distance = np.stack([np.abs(dense[rows] - dense[row]) @ by_word for row in rows])
        return float(distance[pairs].mean() / distance[apart].mean())

    assert ratio(weights) < ratio(np.ones_like(weights))


def test_given_a_topic_distance_weight_then_the_distance_adds_that_share_of_the_topic_distance(
    service, built
):
    # given a held-out photo
    engine = service.active().engine
    image = Path(built.held_out[0].image)
    visual_only = photo_distances(engine, image, TRANSFER_ONLY)
    topics_only = photo_distances(engine, image, replace(TRANSFER_ONLY, neighbour_space="topics"))
    # when its distances add the topic view with mu = 0.5
    both = photo_distances(engine, image, replace(TRANSFER_ONLY, topic_distance_weight=0.5))
    # then each document's distance is the visual L1 plus half its topic L1
    finite = np.isfinite(both)
    assert np.allclose(both[finite], visual_only[finite] + 0.5 * topics_only[finite])


@pytest.mark.parametrize(
    ("field", "value"),
    [("label_neighbours", -1), ("distance_decay", -1.0), ("topic_distance_weight", -0.5)],
)
def test_given_an_invalid_neighbour_setting_then_a_value_error_names_it(field, value):
    with pytest.raises(ValueError, match=field):
        AnnotationParams(**{field: value})

"""Specification of core.serving.annotation: words for a photo from topics, near documents and the
backbone's class names, on the real build of the built-in collection (see conftest)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.reading.backbones import N_CLASSES
from core.reading.text import TAG, TEXT, TextProcessor, normalize_tag
from core.reading.twins import tag_twins
from core.reading.vision import VISUAL, visual_token
from core.serving import annotation
from core.serving.annotation import (
    TOPICS_ONLY,
    AnnotationParams,
    LabelTransfer,
    _l1_to_counts,
    _l1_to_rows,
    as_words,
)
from core.serving.answers import AnnotationRequest
from core.serving.class_words import ClassNameWords, class_names
from core.serving.engine import Query
from core.serving.model import ModelParams
from core.serving.ranking import DocumentTokens, bag_distribution
from core.serving.reader import expected_visual_words

HELDOUT = Path(__file__).resolve().parent.parent / "data" / "heldout_photos"
TABBY = 281  # ImageNet class index of "tabby, tabby cat"


def tag_hit_rate(service, documents, params: AnnotationParams) -> float:
    engine = service.active().engine
    hits = []
    for doc in documents:
        found = engine.annotation.annotate(
            AnnotationRequest(Query(image=doc.image), [TAG], k=5, params=params)
        )
        hits.append(bool({a.token for a in found[TAG]} & set(doc.tags)))
    return float(np.mean(hits))


def test_label_transfer_names_held_out_photos_at_least_as_often_as_topics_alone(service, built):
    # given photos of the built-in collection that the model never saw
    photos = built.held_out
    # when annotated by p(w|d) alone and by the default blend with label transfer
    alone = tag_hit_rate(service, photos, TOPICS_ONLY)
    blended = tag_hit_rate(service, photos, AnnotationParams())
    # then the blend puts a correct tag in the top 5 at least as often
    assert blended >= alone, (blended, alone)


def test_annotation_scores_are_a_ranked_distribution(service, built):
    engine = service.active().engine
    found = engine.annotation.annotate(
        AnnotationRequest(Query(image=built.held_out[0].image), [TAG, TEXT], k=8)
    )
    for words in found.values():
        scores = [a.p for a in words]
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= p <= 1 for p in scores)


def test_given_a_photo_twice_then_expected_visual_words_are_the_same_and_sum_to_the_samples():
    probabilities = np.random.default_rng(0).dirichlet(np.full(N_CLASSES, 0.05))
    params = ModelParams()

    first = expected_visual_words(probabilities, params)

    assert first == expected_visual_words(probabilities, params)
    assert sum(first.values()) == pytest.approx(params.visual_samples)
    assert max(first, key=first.__getitem__) == visual_token(int(np.argmax(probabilities)))


def test_given_a_tabby_cat_then_cat_is_the_first_class_name_word():
    probabilities = np.full(N_CLASSES, 1e-5)
    probabilities[TABBY] = 1.0

    scores = ClassNameWords(TextProcessor()).scores(probabilities / probabilities.sum())

    assert max(scores, key=scores.__getitem__) == "cat"
    assert 0.95 <= sum(scores.values()) <= 1.0  # only words below 1e-4 are left out


def test_every_imagenet_class_has_names():
    names = class_names()
    assert len(names) == N_CLASSES
    assert all(names) and "tabby" in names[TABBY]


def test_given_a_cat_photo_from_outside_the_collection_then_class_names_bring_the_word_cat(
    service,
):
    # given a cat photo that no collection contains (scikit-image's "chelsea")
    engine = service.active().engine
    photo = Query(image=HELDOUT / "cat.jpg")
    # when annotated with the backbone's class names as words
    found = engine.annotation.annotate(
        AnnotationRequest(photo, [TEXT], k=5, params=AnnotationParams(class_name_weight=0.5))
    )
    # then "cat" is among the top words, shown as a word rather than a stem
    assert "cat" in [a.display for a in found[TEXT]]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("transfer_weight", 1.5),
        ("neighbours", 0),
        ("neighbour_space", "pixels"),
        ("vote_decay", -1.0),
        ("class_name_weight", -0.1),
        ("class_name_caption", -1.0),
    ],
)
def test_given_an_invalid_annotation_setting_then_a_value_error_names_it(field, value):
    with pytest.raises(ValueError, match=field):
        AnnotationParams(**{field: value})


def test_a_text_query_is_annotated_from_its_nearest_documents_too(service):
    # given a word query (no photo, so neighbours come from the documents nearest its theta)
    engine = service.active().engine
    # when annotated with label transfer only
    found = engine.annotation.annotate(
        AnnotationRequest(
            Query(text="bird"), [TAG], k=5, params=AnnotationParams(transfer_weight=1.0)
        )
    )
    # then the hashtag of the birds is among its tags
    assert "birds" in [a.token for a in found[TAG]]


@pytest.mark.parametrize("space", ["visual", "topics"])
def test_given_a_collection_photo_then_transfer_from_one_neighbour_copies_its_own_tags(
    service, space
):
    # given a photo that is itself a document of the collection (a tag and its Russian twin
    # count as one annotation slot)
    engine = service.active().engine
    doc = next(d for d in engine.documents if d.image and d.tags)
    own = {tag_twins().slot(normalize_tag(t)) for t in doc.tags}
    only_neighbour = AnnotationParams(
        transfer_weight=1.0, neighbours=1, neighbour_space=space, class_name_weight=0.0
    )
    # when annotated from its single nearest document alone
    found = engine.annotation.annotate(
        AnnotationRequest(Query(image=Path(doc.image)), [TAG], k=len(own), params=only_neighbour)
    )
    # then its tags are that document's own
    assert {a.token for a in found[TAG]} == own


def test_a_photos_annotation_becomes_a_document_of_its_predicted_words():
    # given an annotation with scores per modality (one of them empty, one score zero)
    scored = {"@text": [("cat", 0.6), ("tiger", 0.2), ("zebra", 0.0)], "@tag": []}
    # then its words are counted in proportion to their scores, in a document of fixed length
    words = as_words(scored, length=8.0)
    assert list(words) == ["@text"]
    assert dict(words["@text"]) == pytest.approx({"cat": 6.0, "tiger": 2.0})


def test_given_a_dog_photo_then_a_pseudo_caption_of_its_class_names_moves_its_words_to_dog(
    service,
):
    # given a dog photo from outside the collection, whose class names include the word "dog"
    # that the model knows, annotated by p(w|d) alone (no neighbours, no class names as words)
    engine = service.active().engine
    photo = Query(image=HELDOUT / "dog.jpg")
    topics_only = AnnotationParams(transfer_weight=0.0, class_name_weight=0.0)
    assert "dog" in engine.model.phi[TEXT].index
    # when its theta is inferred with a pseudo-caption of its class-name words as well
    captioned = replace(topics_only, class_name_caption=2.0)
    before = engine.annotation.annotate(AnnotationRequest(photo, [TEXT], k=5, params=topics_only))[
        TEXT
    ]
    after = engine.annotation.annotate(AnnotationRequest(photo, [TEXT], k=5, params=captioned))[
        TEXT
    ]
    # then p(w|d) puts "dog" among its top words, above where the visual words alone put it
    assert "dog" in [a.token for a in after]
    score = {a.token: a.p for a in before}.get("dog", 0.0)
    assert next(a.p for a in after if a.token == "dog") > score


def test_a_pseudo_caption_holds_only_the_class_name_words_the_model_knows():
    # given a tabby cat's probabilities and a model that knows "cat" but not "tabby"
    words = ClassNameWords(TextProcessor())
    probabilities = np.zeros(N_CLASSES)
    probabilities[TABBY] = 1.0
    scores = words.scores(probabilities)
    known = {"cat": 0}
    # when the pseudo-caption is 4 words long
    caption = words.caption(probabilities, known, 4.0)
    # then it holds "cat" alone, counted 4 times its score (the unknown words' share is left out)
    assert dict(caption) == pytest.approx({"cat": 4.0 * scores["cat"]})


def test_with_cooccurrence_the_class_names_reach_hashtags_of_documents_with_those_words(service):
    # given a cat photo from outside the collection, and the hashtags of the collection's
    # documents whose words include "cat" that no class-name word of the photo names
    engine = service.active().engine
    photo = Query(image=HELDOUT / "cat.jpg")
    named = engine.annotation.annotator.class_names.scores(
        engine.reader.read_photo(HELDOUT / "cat.jpg").probabilities
    )
    assert "cat" in named
    named_tags = {tag for word in named for tag in engine.reader.tags_by_word.get(word, ())}
    slot = tag_twins().slot
    with_cat = {
        slot(normalize_tag(tag))
        for doc in engine.documents
        if "cat" in doc.tokens.get(TEXT, {})
        for tag in doc.tags
    }
    unnamed = with_cat - {slot(tag) for tag in named_tags}
    assert unnamed
    # when annotated by the class names' share with and without co-occurrence
    names_only = AnnotationParams(transfer_weight=0.0, class_name_weight=1.0)
    cooccurring = replace(names_only, class_name_cooccurrence=True)
    k = len(engine.model.phi[TAG].tokens)
    before = {
        a.token: a.p
        for a in engine.annotation.annotate(AnnotationRequest(photo, [TAG], k, params=names_only))[
            TAG
        ]
    }
    after = {
        a.token: a.p
        for a in engine.annotation.annotate(AnnotationRequest(photo, [TAG], k, params=cooccurring))[
            TAG
        ]
    }
    # then every such hashtag scores higher than through the hashtags named like the words
    assert all(after[tag] > before.get(tag, 0.0) for tag in unnamed)


def test_label_transfer_reads_the_stored_counts_in_place_with_the_answers_of_whole_matrices(
    service, built
):
    # given the built-in collection's label transfer and held-out photos' visual words
    engine = service.active().engine
    transfer = engine.annotation.annotator.transfer
    photos = [doc.image for doc in built.held_out[:3]]
    for photo in photos:
        probabilities = engine.reader.probabilities(photo)
        visual = expected_visual_words(probabilities, engine.params)
        query = bag_distribution(visual, transfer.phi[VISUAL].index)
        # when the distances are read from the memory-mapped counts, column block by block
        lean = _l1_to_counts(query, engine.base_tokens)
        # then they are the distances to the whole document x token matrix's rows
        assert np.allclose(lean, _l1_to_rows(query, transfer._visual))
        # and the nearest documents' votes, read from their records, are the matrix rows'
        neighbours, _, _ = transfer.neighbours(AnnotationParams(), visual, None, {})
        votes = 1.0 / np.arange(1, len(neighbours) + 1) ** 8
        for modality in (TAG, TEXT):
            whole = np.asarray(transfer._words[modality][neighbours].T @ votes).ravel()
            assert np.allclose(transfer._votes(modality, neighbours, votes), whole)


def nearest_of_every_distance(distances: np.ndarray, k: int) -> list[int]:
    """The k rows of finite distance, nearest first, ties by row: the plain definition."""
    finite = [row for row in range(len(distances)) if np.isfinite(distances[row])]
    return sorted(finite, key=lambda row: (distances[row], row))[:k]


def test_given_a_photo_then_its_neighbours_found_by_bounds_are_exactly_those_of_every_distance(
    service, built
):
    # given held-out photos (expected visual words) and collection photos (their own sampled
    # visual words: the document itself ties at distance 0 with any duplicate)
    engine = service.active().engine
    transfer = engine.annotation.annotator.transfer
    photos = [
        expected_visual_words(engine.reader.probabilities(doc.image), engine.params)
        for doc in built.held_out[:4]
    ] + [Counter(engine.documents[row].tokens[VISUAL]) for row in (0, 9, 99)]
    for visual in photos:
        for k in (1, 5, 60):
            params = AnnotationParams(neighbours=k)
            # when the neighbours are found by bounds over the heaviest visual words
            rows, distances, everywhere = transfer.neighbours(params, visual, None, {})
            # then they are the k nearest by the distance to every document, same order,
            # ties by row, bit-equal distances, and no distance to every document was made
            full = transfer.distances(params, visual, None, {})
            expected = nearest_of_every_distance(full, k)
            assert rows.tolist() == expected
            assert distances.tolist() == full[expected].tolist()
            assert everywhere is None


def test_documents_that_cannot_pass_labels_on_are_never_neighbours_found_by_bounds(service, built):
    # given the collection plus additions that cannot pass labels on: a photo without words
    # whose visual words are the query's own (distance 0) and a caption without a photo
    engine = service.active().engine
    shown = engine.annotation.annotator.transfer
    visual = expected_visual_words(
        engine.reader.probabilities(built.held_out[1].image), engine.params
    )
    tag = engine.model.phi[TAG].tokens[0]
    added = DocumentTokens(
        engine.model.phi, [{VISUAL: visual}, {TAG: Counter({tag: 1})}, {VISUAL: visual}]
    )
    counts = engine.base_tokens.appended(added)
    transfer = LabelTransfer(counts, shown.phi, shown.inferencer, engine.documents)
    params = AnnotationParams(neighbours=5)
    # when its neighbours are found by bounds
    rows, distances, _ = transfer.neighbours(params, visual, None, {})
    # then none is an addition, and they are the nearest of those that can pass labels on
    full = transfer.distances(params, visual, None, {})
    assert not np.isfinite(full[engine.base_tokens.num_documents :]).any()
    assert rows.tolist() == nearest_of_every_distance(full, 5)
    assert distances.tolist() == full[rows].tolist()
    assert rows.max() < engine.base_tokens.num_documents


def test_past_the_exact_limit_a_photos_neighbours_are_the_nearest_of_its_look_alikes(
    service, built, monkeypatch
):
    # given a collection taken as too large to prove a photo's neighbours (the limit at 0),
    # with few look-alikes per photo, and photos from outside it and from it
    engine = service.active().engine
    transfer = engine.annotation.annotator.transfer
    monkeypatch.setattr(annotation, "EXACT_NEIGHBOURS", 0)
    monkeypatch.setattr(annotation, "LOOKALIKE_CANDIDATES", 40)
    photos = [
        expected_visual_words(engine.reader.probabilities(doc.image), engine.params)
        for doc in built.held_out[:3]
    ] + [Counter(engine.documents[row].tokens[VISUAL]) for row in (0, 99)]
    params = AnnotationParams(neighbours=5)
    for visual in photos:
        # when annotation finds its neighbours
        rows, distances, _ = transfer.neighbours(params, visual, None, {})
        # then they are the nearest of its 40 look-alikes by the exact distance
        full = transfer.distances(params, visual, None, {})
        query = bag_distribution(visual, transfer.phi[VISUAL].index)
        columns = np.flatnonzero(query)
        alike = transfer.counts.look_alike(columns, query[columns], 40, transfer._can_pass_labels)
        nearest_alike = [r for r in nearest_of_every_distance(full, len(full)) if r in alike]
        assert len(alike) == 40 and rows.tolist() == nearest_alike[:5]
        assert distances.tolist() == full[rows].tolist()
        # and the exact ones are still there to measure them against
        assert transfer.visual_neighbours(visual, 5, exact=True).tolist() == (
            nearest_of_every_distance(full, 5)
        )
    # a collection photo finds itself (or a duplicate at distance 0) first
    own = Counter(engine.documents[0].tokens[VISUAL])
    assert transfer.neighbours(params, own, None, {})[1][0] == pytest.approx(0.0, abs=1e-12)

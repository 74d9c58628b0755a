"""Ranking: the query's own words and topics (query likelihood), hashtags as words, twins, fit."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from core.reading.text import TextProcessor
from core.reading.vision import VISUAL
from core.serving.answers import SearchRequest
from core.serving.bilingual import Lexicon, Translations
from core.serving.engine import Query
from core.serving.fit import FitReference, leave_one_out_phi, perplexity, query_kind, topic_mass
from core.serving.model import Phi
from core.serving.ranking import (
    ARTICLE_RANKING,
    BEFORE_PHRASES,
    BEFORE_SYNONYMS,
    LOOK_WORDS,
    METHODS,
    DocumentTokens,
    QueryTerm,
    RankingParams,
    ScoredRows,
    WeightedForms,
    context_weighted,
    coordination_levels,
    likelihood_scores,
    predicted_terms,
    query_terms,
    ranker_for,
    ranking_scores,
    rarity_weighted,
    top_rows,
)

FIXTURES = Path(__file__).parent / "fixtures" / "images"
GALAXY = FIXTURES.parent / "outside" / "galaxies.jpg"  # the collection shows no galaxy


def test_ranking_params_refuse_what_cannot_rank():
    with pytest.raises(ValueError, match="method"):
        RankingParams(method="bm25")
    with pytest.raises(ValueError, match="own_weight"):
        RankingParams(own_weight=1.0)
    with pytest.raises(ValueError, match="dirichlet_mu"):
        RankingParams(dirichlet_mu=0)
    with pytest.raises(ValueError, match="coordination_weight"):
        RankingParams(coordination_weight=-1.0)
    with pytest.raises(ValueError, match="coordination_weight"):
        RankingParams(coordination_weight=float("inf"))
    with pytest.raises(ValueError, match="photo_tags"):
        RankingParams(photo_tags=-0.1)
    with pytest.raises(ValueError, match="photo_words"):
        RankingParams(photo_words=float("inf"))
    with pytest.raises(ValueError, match="synonym_share"):
        RankingParams(synonym_share=0.0)
    with pytest.raises(ValueError, match="synonym_share"):
        RankingParams(synonym_share=1.5)
    assert RankingParams.from_dict(None) == ARTICLE_RANKING  # versions from before rankings
    assert RankingParams.from_dict(RankingParams().to_dict()) == RankingParams()
    # a version written before coordination existed keeps its settings and gets today's weight
    before = {"method": "likelihood", "own_weight": 0.5, "dirichlet_mu": 10.0, "lexicon": True}
    assert RankingParams.from_dict(before) == replace(RankingParams(), own_weight=0.5)


# A small household topic that holds one rare word ('garden', in the spade's caption only) and a
# flower topic; rare words have a small collection frequency, as in a real collection.
HOUSEHOLD_AND_FLOWERS = {
    "@text": Phi(
        ["flower", "garden", "spade", "lamp"],
        np.array([[0.0, 1.0], [0.3, 0.0], [0.3, 0.0], [0.4, 0.0]]),
    )
}
BACKGROUND = {"@text": np.array([0.01, 0.001, 0.01, 0.01])}
FLOWER, GARDEN = (QueryTerm((("@text", word, 1.0),)) for word in ("flower", "garden"))


def household_and_flowers() -> tuple[np.ndarray, DocumentTokens]:
    """Four documents: a garden spade and a lamp (household topic), a flower, and a flower bed
    whose caption says both 'flower' and 'garden' (flower topic)."""
    thetas = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    documents = [
        {"@text": Counter(garden=1, spade=1)},
        {"@text": Counter(lamp=1)},
        {"@text": Counter(flower=1)},
        {"@text": Counter(flower=1, garden=1)},
    ]
    return thetas, DocumentTokens(HOUSEHOLD_AND_FLOWERS, documents, BACKGROUND)


def test_topic_smoothing_alone_lets_a_document_without_any_query_word_beat_one_with_the_main_word():
    # given the phrase 'flower garden' and the documents above, ranked by likelihood alone
    thetas, own = household_and_flowers()
    scores = ranking_scores(
        [FLOWER, GARDEN], {"@text": 1.0}, HOUSEHOLD_AND_FLOWERS, thetas, own, BEFORE_PHRASES
    )
    # then the lamp, which says neither word, outranks the flower: its topic hands it 'garden'
    assert scores[1] > scores[2]


def test_with_coordination_documents_that_contain_more_of_the_query_come_first():
    # given the same phrase ranked with a bonus per query word a document contains
    thetas, own = household_and_flowers()
    params = RankingParams(coordination_weight=4.0)
    scores = ranking_scores(
        [FLOWER, GARDEN], {"@text": 1.0}, HOUSEHOLD_AND_FLOWERS, thetas, own, params
    )
    ranked = top_rows(scores, 4).tolist()
    # then the flower bed (both words) is first, the lamp (neither) last
    assert ranked[0] == 3 and ranked[-1] == 1
    # and the bonus is exactly the weight times the number of words contained
    plain = likelihood_scores(
        [FLOWER, GARDEN], {"@text": 1.0}, HOUSEHOLD_AND_FLOWERS, thetas, own, params
    )
    assert (scores - plain).tolist() == pytest.approx([4.0, 0.0, 4.0, 8.0])
    # and documents without words of their own are ranked by their topics alone
    alone = ranking_scores(
        [FLOWER, GARDEN], {"@text": 1.0}, HOUSEHOLD_AND_FLOWERS, thetas, None, params
    )
    assert alone.tolist() == pytest.approx(
        likelihood_scores(
            [FLOWER, GARDEN], {"@text": 1.0}, HOUSEHOLD_AND_FLOWERS, thetas, None, params
        ).tolist()
    )


def test_with_context_weighted_down_the_head_of_a_sentence_outranks_a_document_of_its_context():
    # given 'flower in the garden': the flower is its head, the garden its context, and the
    # rare context word 'garden' lies in the spade's caption only
    thetas, own = household_and_flowers()
    terms = [FLOWER, GARDEN]
    params = RankingParams(coordination_weight=4.0)
    plain = ranking_scores(terms, {"@text": 1.0}, HOUSEHOLD_AND_FLOWERS, thetas, own, params)
    # then with every word alike the spade (context only) outranks the flower (head only)
    assert plain[0] > plain[2]
    # and with the context weighted down the flower comes first, the flower bed above it
    weighted = context_weighted(terms, {"flower"}, 0.25)
    scores = ranking_scores(weighted, {"@text": 1.0}, HOUSEHOLD_AND_FLOWERS, thetas, own, params)
    assert scores[3] > scores[2] > scores[0]
    # and a query that is all head keeps its counts, its words marked as the head
    whole = context_weighted(terms, {"flower", "garden"}, 0.25)
    assert [(term.count, term.head) for term in whole] == [(1.0, True), (1.0, True)]
    assert context_weighted(terms, set(), 0.25) == terms
    # and a head the model knows only as a hashtag still weighs its context down
    toys = QueryTerm((("@tag", "toys", 1.0),))
    weighted = context_weighted([toys, GARDEN], {"toy"}, 0.25)
    assert [term.count for term in weighted] == [1.0, 0.25]


# A field topic (grass, a lawn mower) and a toy topic (a ball); 'трава' is rare in the
# collection, as a scene word of a few captions is.
FIELD_AND_TOYS = {
    "@text": Phi(
        ["мяч", "трава", "лежать", "косилка"],
        np.array([[0.0, 0.9], [0.3, 0.0], [0.3, 0.1], [0.4, 0.0]]),
    )
}


def test_a_russian_sentence_read_by_case_ranks_its_subjects_documents_above_its_contexts():
    # given 'на траве лежит мяч' (on the grass lies a ball): it opens with its context, and its
    # subject, the ball, is the noun in the nominative; and three documents: a lawn mower on the
    # grass, a ball, a ball on the grass
    processor = TextProcessor()
    text = "на траве лежит мяч"
    terms = query_terms(processor.analyze(text).tokens, {})
    documents = [
        {"@text": Counter(трава=1, косилка=1)},
        {"@text": Counter(мяч=1)},
        {"@text": Counter(мяч=1, трава=1)},
    ]
    own = DocumentTokens(FIELD_AND_TOYS, documents, {"@text": np.array([0.01, 0.001, 0.01, 0.01])})
    thetas = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])

    def ranked(by_case: bool) -> list[int]:
        head = processor.phrase_head(text, by_case=by_case).words
        weighted = context_weighted(terms, head, 0.25)
        params = RankingParams(coordination_weight=4.0)
        scores = ranking_scores(weighted, {"@text": 1.0}, FIELD_AND_TOYS, thetas, own, params)
        return top_rows(scores, 3).tolist()

    # when its head is read by position, it has none, and the mower outranks the ball
    assert ranked(by_case=False).index(0) < ranked(by_case=False).index(1)
    # when read by case, the ball on the grass comes first, then the ball, then the mower
    assert ranked(by_case=True) == [2, 1, 0]


def test_an_attribute_query_ranks_documents_with_both_above_those_with_only_the_object():
    # given 'old flag', whose object is the flag and 'old' its attribute, and four captions: an
    # old car, a flag among many words of a ship, an old flag, an old flag on a ship
    phi = {"@text": Phi(["old", "flag", "car", "ship"], np.full((4, 1), 0.25))}
    documents = [
        {"@text": Counter(old=1, car=1)},
        {"@text": Counter(flag=1, ship=6)},
        {"@text": Counter(old=1, flag=1)},
        {"@text": Counter(old=1, flag=1, ship=8)},
    ]
    own = DocumentTokens(phi, documents)
    processor = TextProcessor()
    head = processor.phrase_head("old flag")
    terms = query_terms(processor.analyze("old flag").tokens, {})
    terms = context_weighted(terms, head.words, 0.25, head.attributes)

    def ranked(params: RankingParams) -> list[int]:
        scores = ranking_scores(terms, {"@text": 1.0}, phi, np.ones((4, 1)), own, params)
        return top_rows(scores, 4).tolist()

    # when every word counts alike, the old car outranks the flag
    alike = RankingParams(coordination_weight=4.0, attribute_weight=1.0)
    assert ranked(alike) == [2, 3, 0, 1]
    # when the attribute counts half without its object, the documents with both come first,
    # then the flag, then the old car
    assert ranked(replace(alike, attribute_weight=0.5)) == [2, 3, 1, 0]
    # and a bonus for the whole head counts a document with both as one with one more word
    levels = coordination_levels(terms, phi, own, params=replace(alike, head_bonus=1.0))
    assert levels.tolist() == pytest.approx([1.0, 1.0, 3.0, 3.0])


def test_with_rarity_a_word_few_documents_contain_outweighs_a_common_one():
    # given a long caption that names a cat once, and three short ones of tables: 'table' is
    # common, 'cat' rare
    phi = {"@text": Phi(["cat", "table", "basket"], np.full((3, 1), 1 / 3))}
    thetas = np.ones((5, 1))
    documents = [
        {"@text": Counter(cat=1, basket=6)},
        {"@text": Counter(table=1)},
        {"@text": Counter(table=1, basket=1)},
        {"@text": Counter(table=2)},
        {"@text": Counter(basket=1)},
    ]
    own = DocumentTokens(phi, documents)
    cat, table = (QueryTerm((("@text", word, 1.0),)) for word in ("cat", "table"))
    plain = RankingParams(coordination_weight=4.0)
    # when 'cat table' is ranked with every word alike, a table without a cat comes first
    scores = ranking_scores([cat, table], {"@text": 1.0}, phi, thetas, own, plain)
    assert top_rows(scores, 1).tolist() == [3]
    # and with words weighted by rarity the cat comes first, and the words' mean weight is 1
    weighted = rarity_weighted([cat, table], own, phi, 1.0)
    assert weighted[0].count > 1 > weighted[1].count
    assert (weighted[0].count + weighted[1].count) / 2 == pytest.approx(1.0)
    scores = ranking_scores(weighted, {"@text": 1.0}, phi, thetas, own, plain)
    assert top_rows(scores, 1).tolist() == [0]
    # and a one-word query is unchanged
    assert rarity_weighted([cat], own, phi, 1.0) == [cat]


def test_a_translation_counts_by_its_share_and_visual_words_do_not_count_as_words():
    phi = {
        "@text": Phi(["bird", "птица"], np.array([[0.5], [0.5]])),
        "@visual": Phi(["v1"], np.array([[1.0]])),
    }
    own = DocumentTokens(
        phi,
        [
            {"@text": Counter(bird=1)},
            {"@text": Counter(птица=1)},
            {"@visual": Counter(v1=5)},
        ],
    )
    bird = QueryTerm((("@text", "bird", 1.0), ("@text", "птица", 0.6)))
    visual = QueryTerm((("@visual", "v1", 1.0),), 5.0)
    assert coordination_levels([bird, visual], phi, own).tolist() == pytest.approx([1.0, 0.6, 0.0])


def test_a_photos_predicted_hashtags_and_words_rank_by_likelihood_without_coordination():
    # given a photo's predicted hashtags and words, and three documents: one with the predicted
    # hashtag, one with the predicted word, one with neither
    phi = {
        "@tag": Phi(["animals"], np.array([[1.0]])),
        "@text": Phi(["giraffe", "car"], np.array([[0.5], [0.5]])),
    }
    own = DocumentTokens(
        phi,
        [{"@tag": Counter(animals=1)}, {"@text": Counter(giraffe=1)}, {"@text": Counter(car=1)}],
    )
    predicted = {"@tag": Counter(animals=4.0), "@text": Counter(giraffe=2.0)}
    # when they are the photo query's terms, hashtags weighing 0.25 and words 0.1
    terms = predicted_terms(predicted, RankingParams(photo_tags=0.25, photo_words=0.1))
    # then each token is a term of its own, counted by its weight, and marked predicted
    assert [(t.forms[0][1], t.count, t.predicted) for t in terms] == [
        ("animals", 1.0, True),
        ("giraffe", pytest.approx(0.2), True),
    ]
    # and the documents that contain one of them come before the one that contains neither
    scores = ranking_scores(
        terms, {"@tag": 1.0, "@text": 1.0}, phi, np.ones((3, 1)), own, RankingParams()
    )
    assert top_rows(scores, 3).tolist()[-1] == 2
    # and no coordination bonus: the visitor asked for none of them
    assert coordination_levels(terms, phi, own).tolist() == [0.0, 0.0, 0.0]
    # and a weight of 0 leaves its modality out
    assert predicted_terms(predicted, RankingParams(photo_tags=0.0, photo_words=0.0)) == []


def test_a_document_with_the_query_word_outranks_one_that_only_shares_its_topic():
    # given two topics, a word that belongs to topic 0 and three documents: two about topic 0,
    # one of which contains the word, and one about topic 1
    phi = {"@text": Phi(["bird", "wing", "car"], np.array([[0.5, 0.0], [0.5, 0.1], [0.0, 0.9]]))}
    thetas = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    own = DocumentTokens(phi, [{"@text": Counter(wing=2)}, {"@text": Counter(bird=1)}, {}])
    # when ranked by the likelihood of the query 'bird'
    bird = [QueryTerm((("@text", "bird", 1.0),))]
    scores = likelihood_scores(bird, {"@text": 1.0}, phi, thetas, own, RankingParams())
    # then the document containing it is first, the one on its topic second, the other last
    assert top_rows(scores, 3).tolist() == [1, 0, 2]
    # and documents without tokens of their own are still ranked by their topics
    topical = likelihood_scores(bird, {"@text": 1.0}, phi, thetas, None, RankingParams())
    assert top_rows(topical, 3).tolist()[-1] == 2
    # and hidden rows are never returned
    assert 1 not in top_rows(scores, 3, allowed=np.array([True, False, True])).tolist()


def test_the_likelihood_is_the_formula_form_by_form_for_terms_mixing_modalities():
    # given two topics, words and hashtags, and terms whose forms alternate between them: a word
    # with its hashtag, a hashtag alone, a word with a translation, and one named twice
    phi = {
        "@text": Phi(["bird", "птица", "car"], np.array([[0.6, 0.1], [0.3, 0.1], [0.1, 0.8]])),
        "@tag": Phi(["birds", "cars"], np.array([[0.9, 0.2], [0.1, 0.8]])),
    }
    thetas = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])
    documents = [
        {"@text": Counter(bird=2), "@tag": Counter(birds=1)},
        {"@text": Counter(car=1), "@tag": Counter(cars=2)},
        {"@text": Counter({"птица": 1})},
        {},
    ]
    own = DocumentTokens(phi, documents)
    terms = [
        QueryTerm((("@text", "bird", 1.0), ("@tag", "birds", 1.0), ("@text", "птица", 0.5))),
        QueryTerm((("@tag", "cars", 1.0),), count=2.0),
        QueryTerm((("@text", "car", 1.0), ("@text", "car", 0.5)), count=0.25),
    ]
    weights, params = {"@text": 1.0, "@tag": 0.5}, RankingParams()
    lam, mu = params.own_weight, params.dirichlet_mu

    def p(modality: str, token: str) -> np.ndarray:
        column = phi[modality].index[token]
        counts = np.array([d.get(modality, {}).get(token, 0) for d in documents], dtype=float)
        lengths = np.array([sum(d.get(modality, {}).values()) for d in documents], dtype=float)
        background = own.collection[modality][column]
        topical = thetas @ phi[modality].matrix[column]
        return lam * (counts + mu * background) / (lengths + mu) + (1 - lam) * topical

    expected = np.zeros(len(thetas))
    for term in terms:
        total = sum(weights[m] * share * p(m, token) for m, token, share in term.forms)
        mass = sum(weights[m] * share for m, _, share in term.forms)
        mean_weight = np.mean([weights[m] for m, _, _ in term.forms])
        expected += term.count * mean_weight * np.log(total / mass + 1e-12)
    # when every document is scored, and when only some are
    scores = likelihood_scores(terms, weights, phi, thetas, own, params)
    some = likelihood_scores(terms, weights, phi, thetas, own, params, np.array([1, 3]))
    # then each is that sum over terms of the forms' smoothed probabilities
    assert scores.tolist() == pytest.approx(expected.tolist(), rel=1e-12)
    assert some.tolist() == pytest.approx(expected[[1, 3]].tolist(), rel=1e-12)
    # and with coordination too, the documents asked for score as they do among all
    full = ranking_scores(terms, weights, phi, thetas, own, params)
    assert ranking_scores(terms, weights, phi, thetas, own, params, np.array([0, 2])).tolist() == (
        pytest.approx(full[[0, 2]].tolist(), rel=1e-12)
    )


def test_a_word_its_hashtags_and_its_translations_are_one_term_a_document_needs_once():
    # given a query word with a hashtag of its form, a translation, and a visual word
    tokens = {"@text": Counter(bird=1), "@tag": Counter(birds=1), "@visual": Counter(v1=3)}
    terms = query_terms(
        tokens,
        {"bird": ["birds"], "птица": ["птицы"]},
        lambda word: [("птица", 0.9)] if word == "bird" else [],
    )
    # then the word, its hashtag and the translation with its own hashtag make one term
    assert terms[0] == QueryTerm(
        (
            ("@text", "bird", 1.0),
            ("@tag", "birds", 1.0),
            ("@text", "птица", 0.9),
            ("@tag", "птицы", 0.9),
        )
    )
    assert terms[1:] == [QueryTerm((("@visual", "v1", 1.0),), 3.0)]
    # and a document with only the hashtag is found as well as one with only the word
    phi = {
        "@text": Phi(["bird", "птица", "car"], np.array([[0.4], [0.3], [0.3]])),
        "@tag": Phi(["birds", "птицы", "cars"], np.array([[0.4], [0.3], [0.3]])),
    }
    car = {"@text": Counter(car=1), "@tag": Counter(cars=1)}
    docs = [{"@text": Counter(bird=1), "@tag": Counter(cars=1)}, {"@tag": Counter(birds=1)}, car]
    own = DocumentTokens(phi, docs)
    weights = {"@text": 1.0, "@tag": 1.0}
    scores = likelihood_scores(terms[:1], weights, phi, np.zeros((3, 1)), own, RankingParams())
    assert min(scores[0], scores[1]) > scores[2]


def test_a_typed_hashtag_finds_what_its_word_finds(service):
    engine = service.active().engine
    by_word = [h.id for h in service.search(SearchRequest(Query(text="birds"), k=10)).hits]
    by_tag = [h.id for h in service.search(SearchRequest(Query(text="#birds"), k=10)).hits]
    tokens, _ = engine.reader.tokens_of(Query(text="#birds"))
    assert tokens["@text"] == Counter(bird=1) and tokens["@tag"] == Counter(birds=1)
    assert len(set(by_word) & set(by_tag)) >= 8


def test_a_russian_query_reaches_the_documents_of_the_twin_of_its_category_tag(service):
    # given the built-in collection, whose category tags carry Russian twins (#birds, #птицы)
    hits = service.search(SearchRequest(Query(text="птица"), k=5)).hits
    # then the Russian word finds the birds through the twin hashtag and says so
    assert all("birds" in hit.tags for hit in hits), [hit.id for hit in hits]
    assert all(hit.matched and not hit.weak for hit in hits)


def test_a_phrase_finds_the_documents_with_its_words_first_and_marks_the_others_weak(service):
    # given the built-in collection and a phrase of a collection word and everyday context words
    hits = service.search(SearchRequest(Query(text="horse on the street at noon"), k=20)).hits
    matched = [bool(hit.matched) for hit in hits]
    # then the documents that contain a word of it come first
    assert matched[0] and not matched[-1]
    assert matched == sorted(matched, reverse=True), [hit.id for hit in hits]
    # and the ones found by topics alone, containing none of its words, are marked weak
    assert all(hit.weak for hit in hits if not hit.matched)
    assert not any(hit.weak for hit in hits if hit.matched)


@pytest.mark.parametrize(
    ("sentence", "head"),
    [
        ("a horse standing in the garden near the house", "hors"),
        ("a frog sitting on a stone by the water", "frog"),
        ("сова сидит на ветке в лесу", "сова"),
    ],
)
def test_a_sentence_finds_its_object_before_documents_of_its_context(service, sentence, head):
    # given the built-in collection, where gardens, houses, water and forests are in many
    # captions, and a sentence of an object in such a scene
    engine = service.active().engine
    hits = engine.search(SearchRequest(Query(text=sentence), k=2)).hits
    # then the default ranking's first two results are of the object the sentence opens with
    for hit in hits:
        document = engine.documents[hit.row]
        words = engine.reader.processor.analyze(document.text, list(document.tags)).tokens
        assert head in words["@text"], (sentence, [h.id for h in hits])


def test_the_article_ranking_orders_by_topic_distance(service):
    engine = service.active().engine
    result = engine.search(SearchRequest(Query(text="horse"), k=10, ranking=ARTICLE_RANKING))
    distances = [hit.distance for hit in result.hits]
    assert distances == sorted(distances)
    assert "topics" in result.ranking


def test_every_search_says_how_well_the_query_fits(service, built):
    # a query word of the collection fits; its best hits contain it and are not weak
    result = service.search(SearchRequest(Query(text="apple"), k=5))
    assert result.fit is not None and not result.fit.weak
    assert result.fit.kind == "words"
    assert result.hits[0].matched == ["apple"] and not result.hits[0].weak
    # photos of the kind the collection shows, which the model was never trained on (the held-
    # out tenth of the collection), fit: the reference asks each document left out, as these are
    fits = [
        service.search(SearchRequest(Query(image=doc.image.read_bytes()), k=5)).fit
        for doc in built.held_out
    ]
    assert {fit.kind for fit in fits} == {"photo"}
    assert sum(fit.weak for fit in fits) <= 0.1 * len(fits), [fit.perplexity for fit in fits]
    photo = max(fits, key=lambda fit: fit.share_as_far)
    # a photo of what the collection never shows (a galaxy) does not, and fits worse
    galaxy = service.search(SearchRequest(Query(image=GALAXY), k=5))
    assert galaxy.fit.weak and galaxy.fit.share_as_far < photo.share_as_far
    # and the galaxy's hits, which share no word with a photo query, are all marked weak
    assert all(hit.weak for hit in galaxy.hits)


def test_fit_reference_ranks_a_query_among_the_collections_own():
    # given the perplexities and nearest-document distances of 101 of the collection's own queries
    reference = FitReference(
        {"words": np.linspace(10.0, 110.0, 101)}, {"words": np.linspace(0.0, 1.0, 101)}
    )
    tokens = {"@text": Counter(a=1)}
    # then a query as perplexing as the median one fits, and hits are weak beyond the 95th
    # percentile of the distances
    typical = reference.fit(60.0, tokens)
    assert typical.share_as_far == pytest.approx(51 / 101) and not typical.weak
    assert typical.threshold == pytest.approx(0.95) and typical.is_weak(0.96)
    # and one more perplexing than all of them does not
    far = reference.fit(500.0, tokens)
    assert far.share_as_far == 0.0 and far.weak
    assert query_kind({"@visual": Counter(x=1), "@text": Counter(a=1)}) == "words+photo"
    # and a kind the reference has never seen is not declared weak
    assert not reference.fit(1e6, {"@visual": Counter(x=1)}).weak


def test_a_document_left_out_loses_what_only_it_gave_the_model():
    # given two topics, where topic 1 explains 10 tokens, all of them the document's "c"
    phi = {"@text": Phi(["a", "b", "c"], np.array([[0.5, 0.0], [0.5, 0.0], [0.0, 1.0]]))}
    mass = {"@text": np.array([100.0, 10.0])}
    doc = {"@text": Counter(a=10, c=10)}
    left_out = leave_one_out_phi(phi, mass, doc, np.array([0.5, 0.5]))["@text"]
    # then "c", which no other document uses, is unknown to the model without the document
    assert left_out.tokens == ["a"]
    # and "a" keeps topic 0's share of what the other documents gave it: (50 - 10) / (100 - 10)
    assert left_out.matrix[0] == pytest.approx([40 / 90, 0.0])
    # and asked with a word the document lacks (as a typed query adds), that word keeps all of
    # its counts, in the topic without the document's: 50 / (100 - 10)
    asked = leave_one_out_phi(phi, mass, doc, np.array([0.5, 0.5]), {"@text": Counter(a=1, b=1)})
    assert asked["@text"].tokens == ["a", "b"]
    assert asked["@text"].matrix[1] == pytest.approx([50 / 90, 0.0])


def test_topic_mass_counts_the_tokens_each_topic_explains():
    phi = {"@text": Phi(["a", "b"], np.array([[1.0, 0.0], [0.0, 1.0]]))}
    documents = [{"@text": Counter(a=3)}, {"@text": Counter(a=1, b=2)}]
    thetas = np.array([[1.0, 0.0], [0.5, 0.5]])
    mass = topic_mass(phi, documents, thetas, np.arange(2))
    assert mass["@text"] == pytest.approx([4.0, 2.0])


def test_perplexity_is_low_for_tokens_the_topic_explains():
    phi = {"@text": Phi(["a", "b", "c"], np.array([[0.5, 0.0], [0.5, 0.1], [0.0, 0.9]]))}
    theta = np.array([1.0, 0.0])
    assert perplexity(phi, {"@text": Counter(a=2)}, {"@text": 1.0}, theta) == pytest.approx(2.0)
    assert perplexity(phi, {"@text": Counter(c=1)}, {"@text": 1.0}, theta) > 1e6


def test_a_large_collection_ranks_candidates_only_and_finds_the_same_best_documents(
    service, monkeypatch
):
    engine = service.active().engine
    full = [hit.id for hit in engine.search(SearchRequest(Query(text="bird flower"), k=5)).hits]
    # when the collection counts as large, only documents with a query term and the nearest
    # ones by topics are scored
    monkeypatch.setattr("core.serving.ranking.LIKELIHOOD_CANDIDATES", 50)
    candidates = [
        hit.id for hit in engine.search(SearchRequest(Query(text="bird flower"), k=5)).hits
    ]
    assert candidates == full


def test_a_proofs_documents_are_scored_once_across_its_tries():
    # given the scores a proof keeps for one query
    scored_rows = []

    def twice_the_row(rows: np.ndarray) -> np.ndarray:
        scored_rows.append(rows.tolist())
        return rows * 2.0

    scored = ScoredRows(twice_the_row)
    # when a first try scores two documents and a deeper one three, one of them again
    assert scored(np.array([3, 5])).tolist() == [6.0, 10.0]
    assert scored(np.array([1, 3, 7])).tolist() == [2.0, 6.0, 14.0]
    assert scored(np.array([1, 5])).tolist() == [2.0, 10.0]
    # then each document was scored once
    assert scored_rows == [[3, 5], [1, 7]]


def test_a_photo_with_words_in_a_large_collection_scores_those_whose_words_could_score_highest(
    service, monkeypatch
):
    # given the built collection counted as large, where more documents have the words than
    # may stand for them
    monkeypatch.setattr("core.serving.ranking.LIKELIHOOD_CANDIDATES", 20)
    monkeypatch.setattr("core.serving.ranking.LOOKALIKE_CANDIDATES", 20)
    monkeypatch.setattr("core.serving.ranking.WORD_CANDIDATES", 30)
    engine = service.active().engine
    ranking, weights = engine.ranking, engine.default_weights
    query = Query(text="a bird on a tree", image=GALAXY.read_bytes())
    tokens, _ = engine.reader.tokens_of(query)
    terms = engine.reader.query_terms(tokens, ranking)
    theta = engine.infer(SearchRequest(query)).theta
    ranker = ranker_for(ranking, engine.ranked)
    worded = [t for t in terms if t.forms[0][0] != "@visual" and not t.predicted]
    containing = engine.ranked.own.rows_with(worded, engine.model.phi)
    assert len(containing) > 30
    # when its candidates are chosen
    candidates = ranker.candidates(theta, terms, weights, None)
    # then of the documents with its words, the 30 whose words' part of the score could be
    # highest are among them (the bound of each: its own counts of the words, coordination)
    forms = WeightedForms.of(worded, weights, engine.model.phi)
    bounds, _ = ranker.upper_bounds(forms, worded, containing)
    highest = containing[bounds > np.sort(bounds)[-31]]
    assert 0 < len(highest) <= 30 and np.isin(highest, candidates).all()
    # and no other document with the words, unless it looks like the photo
    looking_alike = ranker.looking_alike([t for t in terms if t.forms[0][0] == "@visual"], None)
    others = np.setdiff1d(np.intersect1d(candidates, containing), looking_alike)
    assert len(others) <= 30


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("text", ["bird flower", "horse on the street at noon"])
def test_every_ranker_returns_the_best_allowed_rows_in_order_with_their_distances(
    service, method, text
):
    # given the built collection, a query and the ranker ``method`` names
    engine = service.active().engine
    ranking = RankingParams(method=method)
    tokens, _ = engine.reader.tokens_of(Query(text=text))
    theta = engine.infer(SearchRequest(Query(text=text), ranking=ranking)).theta
    terms = engine.reader.query_terms(tokens, ranking)
    weights = engine.default_weights
    ranker = ranker_for(ranking, engine.ranked)
    scores = ranker.scores(theta, terms, weights)
    assert scores.shape == (len(engine.documents),)
    # when asked for the 10 best
    ranked = ranker.rank(theta, terms, 10, weights)
    # then it returns 10 distinct rows, best first, that no other row beats
    rows = ranked.rows.tolist()
    assert len(rows) == len(set(rows)) == 10
    assert list(ranked.scores) == sorted(ranked.scores, reverse=True)
    assert ranked.scores == pytest.approx(scores[rows], rel=1e-5, abs=1e-5)
    others = np.delete(scores, rows)
    assert others.max() <= ranked.scores[-1] + 1e-5
    # and each row's distance is the L1 distance between its topic vector and the query's
    expected = np.abs(engine.thetas[rows] - theta).sum(axis=1)
    assert ranked.distances == pytest.approx(expected, rel=1e-5, abs=1e-5)
    # and hidden rows are never returned: asked for more than there are, it returns every
    # allowed row once
    allowed = np.zeros(len(engine.documents), dtype=bool)
    allowed[::7] = True
    everything = ranker.rank(theta, terms, len(engine.documents), weights, allowed)
    assert sorted(everything.rows.tolist()) == np.flatnonzero(allowed).tolist()
    assert list(everything.scores) == sorted(everything.scores, reverse=True)


def test_a_synonym_through_the_other_language_counts_as_much_as_a_dictionary_translation():
    # given 'telephone on the table': the collection pairs 'telephone' with 'телефон', which
    # the dictionary also translates as 'phone', and two documents of one topic, a phone
    # (the head's synonym only) and a table (the context only)
    lexicon = Lexicon({"telephone": (4.0, ["телефон"]), "phone": (4.5, ["телефон"])})
    table = {"telephone": [("телефон", 0.6)], "телефон": [("telephone", 0.6)]}
    translations = Translations(table, lexicon)
    phi = {
        "@text": Phi(
            ["telephone", "телефон", "phone", "table"], np.array([[0.25], [0.25], [0.25], [0.25]])
        )
    }
    own = DocumentTokens(phi, [{"@text": Counter(phone=1)}, {"@text": Counter(table=1)}])
    tokens = {"@text": Counter(telephone=1, table=1)}

    def scores(params: RankingParams) -> np.ndarray:
        synonyms = partial(translations.with_synonyms, exponent=params.synonym_share)
        terms = context_weighted(query_terms(tokens, {}, synonyms), {"telephone"}, 0.25)
        return ranking_scores(terms, {"@text": 1.0}, phi, np.ones((2, 1)), own, params)

    # then the phone comes first: its synonym counts (0.6 x 0.25) ** 0.5, more than the
    # context word's 0.25
    assert scores(RankingParams())[0] > scores(RankingParams())[1]
    # where at the product of the two shares (0.15) the table came first
    assert scores(BEFORE_SYNONYMS)[1] > scores(BEFORE_SYNONYMS)[0]


# Twelve visual words of one topic: what a document's look (its heaviest words) is made of.
TWELVE_VISUAL_WORDS = {VISUAL: Phi([f"v{i}" for i in range(12)], np.full((12, 1), 1 / 12))}


def test_a_documents_look_is_its_heaviest_visual_words_by_their_share_of_it():
    # given a photo whose twelve visual words were drawn 12, 11, ..., 1 times, and one whose
    # ten were drawn once each
    graded = Counter({f"v{i}": 12 - i for i in range(12)})
    even = Counter({f"v{i}": 1 for i in range(2, 12)})
    own = DocumentTokens(TWELVE_VISUAL_WORDS, [{VISUAL: graded}, {VISUAL: even}])
    (looks,) = own.heaviest[VISUAL]
    # then each one's look is its LOOK_WORDS heaviest words, each by its share of its draws
    assert LOOK_WORDS < 10
    expected = np.zeros((2, 12))
    expected[0, :LOOK_WORDS] = np.arange(12, 12 - LOOK_WORDS, -1) / 78
    expected[1, 2 : 2 + LOOK_WORDS] = 1 / 10  # of equal ones, the first tokens
    assert np.allclose(looks.toarray(), expected) and looks.dtype == np.float32
    # and a photo of its lightest words does not look like the first: they are not its look
    lightest = np.array([10, 11])
    shares = own.look_alike_shares(lightest, np.array([0.5, 0.5]))
    assert shares[0] == 0 and shares[1] == 0
    # while a photo of its heaviest shares the lesser share of each
    heaviest = np.array([0, 1])
    shares = own.look_alike_shares(heaviest, np.array([0.1, 0.9]))
    assert shares[0] == pytest.approx(0.1 + 11 / 78) and shares[1] == 0


def test_additions_and_photos_without_counts_bring_looks_as_if_counted_together():
    rng = np.random.default_rng(3)
    photos = [
        {VISUAL: Counter({f"v{i}": int(c) for i, c in enumerate(rng.integers(0, 6, 12)) if c})}
        for _ in range(9)
    ]
    whole = DocumentTokens(TWELVE_VISUAL_WORDS, photos)
    # when six are the version's and three are added, then two photos without counts
    joined = DocumentTokens(TWELVE_VISUAL_WORDS, photos[:6]).appended(
        DocumentTokens(TWELVE_VISUAL_WORDS, photos[6:])
    )
    joined = joined.appended(joined.without_tokens(2))
    # then they look alike as the nine counted together do, and the two share nothing
    columns, query = np.array([1, 4, 7]), np.array([0.2, 0.3, 0.5])
    shares = joined.look_alike_shares(columns, query)
    assert np.array_equal(shares[:9], whole.look_alike_shares(columns, query))
    assert not shares[9:].any()

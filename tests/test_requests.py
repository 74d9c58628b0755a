"""Search and annotation requests: one shape for the service and the engine, checked where made."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from core.serving.annotation import QueryAnnotator
from core.serving.answers import AnnotationRequest, Query, SearchRequest
from core.serving.engine import SearchEngine
from core.serving.service import Service

REQUEST_FIELDS = {
    *inspect.signature(SearchRequest).parameters,
    *inspect.signature(AnnotationRequest).parameters,
} - {"query"}


@pytest.mark.parametrize(
    "method",
    [
        Service.search,
        Service.more_like,
        Service.annotate,
        Service.query_fit,
        Service.why_nothing_recognized,
        SearchEngine.search,
        SearchEngine.infer,
        SearchEngine.query_fit,
        QueryAnnotator.annotate,
    ],
    ids=lambda method: method.__qualname__,
)
def test_no_method_repeats_a_parameter_of_the_request_it_takes(method):
    parameters = set(inspect.signature(method).parameters)

    assert parameters & REQUEST_FIELDS == set()
    assert parameters & {"request", "query"} == {"request"}


def test_the_engine_keeps_no_aliases_of_its_parts_calls():
    assert not {"tokens_of", "annotate", "photo_words"} & set(dir(SearchEngine))


@pytest.mark.parametrize("k", [0, -3])
@pytest.mark.parametrize("request_type", [SearchRequest, AnnotationRequest])
def test_a_request_for_no_results_is_refused_where_it_is_made(request_type, k):
    with pytest.raises(ValueError, match="k must be >= 1"):
        request_type(Query(text="cat"), k=k)


@pytest.mark.parametrize("k", [2.5, "10", True, None])
def test_k_that_is_not_a_whole_number_is_refused(k):
    with pytest.raises(TypeError, match="k must be a whole number"):
        SearchRequest(Query(text="cat"), k=k)


def test_a_numpy_integer_is_a_whole_number():
    assert SearchRequest(Query(text="cat"), k=np.int64(3)).k == 3


@pytest.mark.parametrize(
    ("weights", "message"),
    [({"@text": -1.0}, ">= 0"), ({"@text": float("nan")}, "finite"), ({"text": 1.0}, "'@'")],
)
@pytest.mark.parametrize("request_type", [SearchRequest, AnnotationRequest])
def test_invalid_weights_are_refused_where_the_request_is_made(request_type, weights, message):
    with pytest.raises(ValueError, match=message):
        request_type(Query(text="cat"), weights=weights)


def test_a_request_keeps_its_own_copy_of_the_weights():
    weights = {"@text": 1.0}
    request = SearchRequest(Query(text="cat"), weights=weights)
    weights["@text"] = 0.0

    assert request.weights == {"@text": 1.0}


@pytest.mark.parametrize("query", ["cat", None, b"photo"])
@pytest.mark.parametrize("request_type", [SearchRequest, AnnotationRequest])
def test_a_query_that_is_not_a_query_is_refused(request_type, query):
    with pytest.raises(TypeError, match="query must be a Query"):
        request_type(query)


def test_a_ranking_that_is_not_ranking_params_is_refused():
    with pytest.raises(TypeError, match="ranking must be a RankingParams"):
        SearchRequest(Query(text="cat"), ranking="likelihood")


def test_one_modality_given_as_a_string_is_refused_with_the_list_it_meant():
    with pytest.raises(TypeError, match=r"\['@tag'\]"):
        AnnotationRequest(Query(text="cat"), "@tag")


def test_requests_are_frozen_and_their_modalities_a_tuple():
    request = AnnotationRequest(Query(text="cat"), ["@tag", "@text"])

    assert request.modalities == ("@tag", "@text")
    with pytest.raises(AttributeError):
        request.k = 3  # type: ignore[misc]


def test_more_like_refuses_a_request_with_a_query_of_its_own(service):
    doc_id = service.active().engine.documents[0].id

    with pytest.raises(ValueError, match="the document is the query"):
        service.more_like(doc_id, SearchRequest(Query(text="cat")))

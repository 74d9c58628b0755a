""" "More like this": documents ranked as the version's searches are, with a document's own tokens
as the query, under the weights of the search, never the document itself; from the service and
from the command line."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from core.serving.answers import SearchRequest
from core.serving.ranking import ARTICLE_RANKING
from core.storage import store
from tests.test_cli import run


def test_documents_like_one_are_those_of_its_kind_ranked_as_searches_are_without_it(service):
    # given the built-in collection and a document whose hashtag three other documents carry
    engine = service.active().engine
    documents = [engine.documents[row] for row in range(len(engine.documents))]
    tagged = [set(doc.tags) for doc in documents]
    row = next(
        row for row, tags in enumerate(tagged) if sum(bool(tags & other) for other in tagged) > 4
    )
    doc_id = documents[row].id
    # when documents like it are asked for
    result = service.more_like(doc_id, SearchRequest(k=10))
    # then it is not among them, they are ranked as the version's searches are, and the first
    # three share one of its hashtags
    assert doc_id not in [hit.id for hit in result.hits] and len(result.hits) == 10
    assert result.ranking == engine.ranking.label
    assert all(tagged[row] & set(hit.tags) for hit in result.hits[:3])


def test_documents_like_one_by_topics_are_ranked_by_its_own_topic_vector(service):
    active = service.active()
    doc_id = active.engine.documents[0].id
    theta = active.engine.document_theta(0)

    result = service.more_like(doc_id, SearchRequest(k=10, ranking=ARTICLE_RANKING))

    assert doc_id not in [hit.id for hit in result.hits]
    # With the weights it was indexed with, the document's tokens give back its stored theta.
    assert np.abs(result.query.theta - theta).sum() < 0.05
    distances = [hit.distance for hit in result.hits]
    assert distances == sorted(distances)


def test_documents_like_one_follow_the_weights_of_the_search(service):
    doc_id = next(
        doc.id
        for doc in service.active().engine.documents
        if len(doc.tokens.get("@text", {})) > 3 and doc.tokens.get("@visual")
    )

    by_words = service.more_like(doc_id, SearchRequest(k=10, weights={"@tag": 0.0, "@visual": 0.0}))
    by_picture = service.more_like(doc_id, SearchRequest(k=10, weights={"@tag": 0.0, "@text": 0.0}))

    assert [hit.id for hit in by_words.hits] != [hit.id for hit in by_picture.hits]
    assert by_picture.weights["@text"] == 0.0


def test_a_document_hidden_by_the_junk_filter_is_not_found_like_another(service):
    active = service.active()
    allowed = np.ones(len(active.engine.documents), dtype=bool)
    first = service.more_like(active.engine.documents[0].id, SearchRequest(k=3), active=active)
    allowed[first.hits[0].row] = False
    hiding = replace(active, allowed=allowed)

    again = service.more_like(active.engine.documents[0].id, SearchRequest(k=3), active=hiding)

    assert first.hits[0].id not in [hit.id for hit in again.hits]


def test_an_unknown_document_is_refused(service):
    with pytest.raises(ValueError, match="no document 'nope'"):
        service.more_like("nope")


def test_the_command_line_searches_like_a_document(built, service):
    with service.sessions() as session:
        version = store.active_version(session)
        doc_id = store.version_documents(session, version.id)[0].id

    result = run(["search", "--like", doc_id, "-k", "5", "--json"], built.settings)

    assert result.returncode == 0, result.stderr
    ids = [row["id"] for row in json.loads(result.stdout)["results"]]
    assert len(ids) == 5 and doc_id not in ids
    assert ids == [hit.id for hit in service.more_like(doc_id, SearchRequest(k=5)).hits]
    refused = run(["search", "--like", "nope"], built.settings)
    assert refused.returncode == 2 and "no document 'nope'" in refused.stderr

"""Provisional topic labels: the terms most specific to each topic, never the same twice."""

from __future__ import annotations

from collections import Counter

from core.storage import store


def test_no_two_topics_of_a_build_share_a_label(service):
    with service.sessions() as session:
        labels = [
            topic.label for topic in store.version_topics(session, service.active().version.id)
        ]

    assert len(set(labels)) == len(labels)


def test_labels_are_not_made_of_the_collections_most_common_tags(service):
    active = service.active()
    with service.sessions() as session:
        labels = [topic.label for topic in store.version_topics(session, active.version.id)]
    tags = Counter(tag for doc in active.engine.documents for tag in doc.tags)
    commonest = tags.most_common(1)[0][0]

    with_commonest = sum(commonest in label.split(", ") for label in labels)

    assert with_commonest <= max(2, len(labels) // 20)

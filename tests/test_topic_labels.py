"""Topic labels in the reader's language: a topic's label as the build wrote it mixes languages
("грецкий, walnut, скорлупа"); a Russian reader reads it in Russian, an English one in English,
and a moderator's own label is everyone's."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from core.serving.model import Phi
from core.serving.service import Service
from core.serving.topic_labels import distinct_labels, labels_in_language, term_language
from core.storage import database, store

CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
LATIN = "abcdefghijklmnopqrstuvwxyz"


def phi_of(columns: dict[str, list[float]]) -> Phi:
    tokens = list(columns)
    return Phi(tokens, np.array([columns[token] for token in tokens], dtype=np.float32))


def test_a_term_is_of_the_language_of_its_letters():
    assert term_language("кошка") == "ru"
    assert term_language("ПознаваемМир") == "ru"
    assert term_language("walnut") == "en"
    assert term_language("1812") is None


def test_a_topic_of_two_languages_reads_in_each_from_its_own_terms():
    words = phi_of(
        {
            "грецкий": [0.30, 0.01],
            "walnut": [0.25, 0.01],
            "скорлупа": [0.20, 0.01],
            "shell": [0.15, 0.01],
            "орех": [0.05, 0.01],
            "nut": [0.05, 0.01],
            "море": [0.0, 0.5],
            "sea": [0.0, 0.5],
        }
    )
    phi = {"@text": words}
    names = ["topic_0", "topic_1"]

    built = distinct_labels(phi, ["@text"], {}, names)
    russian = labels_in_language(phi, {}, names, "ru")
    english = labels_in_language(phi, {}, names, "en")

    assert built[0] == "грецкий, walnut, скорлупа"
    assert russian.read({0: built[0]})[0] == "грецкий, скорлупа, орех"
    assert english.read({0: built[0]})[0] == "walnut, shell, nut"


def test_a_topic_without_enough_terms_of_a_language_keeps_the_label_the_build_wrote():
    phi = {"@text": phi_of({"jazz": [0.5], "blues": [0.3], "swing": [0.2], "джаз": [0.1]})}
    built = distinct_labels(phi, ["@text"], {}, ["topic_0"])
    assert labels_in_language(phi, {}, ["topic_0"], "ru").read({0: built[0]}) == {0: built[0]}


def test_a_visitor_reads_topics_in_their_language_and_a_moderators_label_as_written(
    deployment,
):
    """Given the small real build, a label the build wrote reads without Latin letters for a
    Russian visitor and without Cyrillic for an English one, wherever the topic has enough terms
    of the language; a label a moderator wrote reads the same in both."""
    service = Service(deployment)
    active = service.active()
    stored = service.topic_labels(active)
    russian = service.topic_labels(active, "ru")
    english = service.topic_labels(active, "en")

    assert set(russian) == set(english) == set(stored)
    in_russian = [i for i in stored if russian[i] != stored[i]]
    in_english = [i for i in stored if english[i] != stored[i]]
    assert in_russian and in_english, "the build's labels mix languages"
    assert all(not set(russian[i].lower()) & set(LATIN) for i in in_russian)
    assert all(not set(english[i].lower()) & set(CYRILLIC) for i in in_english)

    sessions = database.open_database(deployment.database_url)
    with sessions() as session:
        topic = session.scalar(
            select(store.Topic).where(
                store.Topic.version_id == active.version.id, store.Topic.index == in_russian[0]
            )
        )
        topic.label = "Орехи и скорлупа / nuts"
        session.commit()
    assert service.topic_labels(active, "ru")[in_russian[0]] == "Орехи и скорлупа / nuts"
    assert service.topic_labels(active, "en")[in_russian[0]] == "Орехи и скорлупа / nuts"
    service.sessions.kw["bind"].dispose()

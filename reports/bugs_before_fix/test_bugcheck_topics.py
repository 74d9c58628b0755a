"""Issue-13 bug 5 test added on branch bugcheck (tests/test_app.py), run on 3634a48 unchanged:
open_app, shown and the Topics page's box label and headers existed then as now."""

import re

from streamlit.testing.v1 import AppTest

from core import store
from tests.test_app import open_app, shown


def test_the_topics_page_finds_whole_words_not_parts_of_words(monkeypatch, deployment):
    sessions = store.open_database(deployment.database_url)
    with sessions() as session:
        version = store.active_version(session)
        catamaran, cats = store.version_topics(session, version.id)[:2]
        catamaran.label, cats.label = "catamaran sailing", "кошки и котята"
        catamaran.status = cats.status = "normal"
        session.commit()
    app = open_app(monkeypatch, deployment.data_dir).switch_page("views/topics.py").run()

    find_topics(app, "cat")
    found_cat = shown_topics(app)
    find_topics(app, "кошка")
    found_koshka = shown_topics(app)

    assert catamaran.index not in found_cat
    assert cats.index in found_koshka  # the lemma of кошки


def find_topics(app: AppTest, words: str) -> AppTest:
    find = next(box for box in app.text_input if box.label == "Find topics by label or term")
    return find.input(words).run()


def shown_topics(app: AppTest) -> set[int]:
    """The topic numbers the Topics page shows (each topic's header reads "label (#12)")."""
    headers = [shown(header) for header in app.subheader]
    return {int(m[1]) for header in headers if (m := re.search(r"\(#(\d+)\)$", header))}

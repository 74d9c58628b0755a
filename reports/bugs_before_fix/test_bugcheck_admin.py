"""Issue-13 bug 5 test from main's tests/test_admin_app.py, run on 3634a48. Adapted only where
the page had no such names yet: the term box is found by its label (main: key="review-term"), and
listed topics are read from the expanders "[12] label · status" (main: checkboxes "#12 · label").
Assertions are main's, unchanged."""

import re

from core import store
from tests.test_admin_app import app_signed_in_as, sessions  # noqa: F401


def listed_topics(app) -> set[int]:
    labels = [re.sub(r"\\(.)", r"\1", e.label) for e in app.expander]
    return {int(m[1]) for label in labels if (m := re.match(r"\[(\d+)\] ", label))}


def term_box(app):
    return next(box for box in app.text_input if box.label == "Term or label contains")


def test_topic_review_finds_whole_words_not_parts_of_words(sessions):  # noqa: F811
    with sessions() as session:
        version = store.active_version(session)
        catamaran, cats = store.version_topics(session, version.id)[:2]
        catamaran.label, cats.label = "catamaran sailing", "кошки и котята"
        session.commit()
    app = app_signed_in_as(sessions, "mia").switch_page("../admin/pages/review_topics.py").run()

    term_box(app).input("cat").run()
    found_cat = listed_topics(app)
    term_box(app).input("кошка").run()
    found_koshka = listed_topics(app)

    assert catamaran.index not in found_cat
    assert cats.index in found_koshka  # the lemma of кошки

"""The public Streamlit app, page by page, driven headless with AppTest against a real model."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.reading.vision import visual_display, visual_token
from core.serving.answers import SearchRequest
from core.serving.explain import visible_topics
from core.serving.model import ModelParams
from core.serving.ranking import RankingParams
from core.settings import DEFAULT_BACKBONE, REPO_ROOT
from core.storage import database, searches, store
from core.storage.modality_names import BUILT_IN
from interface.messages import MESSAGES
from interface.widgets import escape_markdown
from streamlit_app import charts

APP = str(REPO_ROOT / "streamlit_app" / "main.py")
PHOTOS = REPO_ROOT / "tests" / "fixtures" / "images"
CARD_DETAIL = ":small[:gray["  # the detail line of a result card
PAGES = ["views/search.py", "views/annotate.py", "views/topics.py", "views/about.py"]
TITLES = {
    "views/search.py": "search_title",
    "views/annotate.py": "annotate_title",
    "views/topics.py": "topics_title",
    "views/about.py": "about_title",
}


def open_app(monkeypatch: pytest.MonkeyPatch, data_dir) -> AppTest:
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(data_dir))
    from interface.state import get_service

    get_service.clear()
    return AppTest.from_file(APP, default_timeout=120).run()


@pytest.fixture
def app(monkeypatch, built) -> AppTest:
    return open_app(monkeypatch, built.settings.data_dir)


def search(app: AppTest, text: str, photo: tuple[str, bytes, str] | None = None) -> AppTest:
    app.text_input[0].input(text)
    if photo is not None:
        app.file_uploader[0].set_value(photo)
    return app.button[0].click().run()


def texts(app: AppTest) -> list[str]:
    return [element.value for element in app.text]


def cards(app: AppTest) -> list[str]:
    """What a visitor reads on each result card: caption, tags and the detail line."""
    return [shown(markdown) for markdown in app.markdown if CARD_DETAIL in markdown.value]


def tooltips(app: AppTest) -> list[str]:
    """The tooltip of each result card, as a visitor reads it."""
    return [
        re.sub(r"\\(.)", r"\1", markdown.proto.help)
        for markdown in app.markdown
        if CARD_DETAIL in markdown.value
    ]


def understood(app: AppTest) -> AppTest:
    """Open "What the model understood"."""
    return app.toggle(key="show-understood").set_value(True).run()


def shown(markdown) -> str:
    """What a visitor reads of an escaped Markdown element."""
    return re.sub(r"\\(.)", r"\1", markdown.value)


def jpeg(name: str) -> tuple[str, bytes, str]:
    return (name, (PHOTOS / name).read_bytes(), "image/jpeg")


# --------------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------------


def test_a_russian_query_shows_a_grid_of_results_with_plain_text_captions(app):
    search(app, "цветы")

    assert not app.exception
    assert any("12 results" in caption.value for caption in app.caption)
    assert any("#plants" in card for card in cards(app))
    strengths = [re.search(r"(Strong|Good|Weak) match", card) for card in cards(app)]
    assert len(strengths) == 12 and all(strengths)


def test_the_page_shows_what_the_model_understood_and_why_each_result_matched(app):
    search(app, "собака qwertyzzz")

    assert "Not known to the model (ignored): qwertyzzz" in shown(app.info[0])
    weak = [tip for tip in tooltips(app) if "A weak match" in tip]
    explained = [tip for tip in tooltips(app) if "% of the match" in tip and tip not in weak]
    assert explained and len(explained) + len(weak) == 12  # each result is explained
    assert not app.get("plotly_chart")  # built only for a visitor who asks

    understood(app)
    assert any(text.startswith("Words: собака") for text in texts(app))
    assert len(app.get("plotly_chart")) == 1  # the query's topic vector


def test_a_photo_query_shows_its_visual_words_by_imagenet_class_name(app):
    understood(search(app, "", jpeg("tiger.jpg")))

    assert not app.exception
    visual = [text for text in texts(app) if text.startswith("Picture: ")]
    assert visual and "tiger" in visual[0]


def test_moving_a_weight_slider_changes_the_ranking_for_this_visitor_only(app, service):
    search(app, "цветы", jpeg("dog.jpg"))
    before = cards(app)
    visual_slider = next(s for s in app.select_slider if s.label == "Picture")

    visual_slider.set_value(1.0).run()

    after = cards(app)
    assert after != before
    assert app.query_params["w-visual"] == "1"  # the visitor's weight, in the address
    with service.sessions() as session:
        version = store.active_version(session)
        assert store.modality_weights(session, version.id)["@visual"] == pytest.approx(
            ModelParams().modality_weights["@visual"]
        )


def test_show_more_adds_a_page_of_results(app):
    search(app, "цветы")

    next(b for b in app.button if b.label == "Show more results").click().run()

    assert any("24 results" in caption.value for caption in app.caption)


def test_a_vote_is_stored_with_the_search_it_judges(app, service):
    search(app, "цветы")

    app.feedback[0].set_value(1).run()
    app.feedback[1].set_value(0).run()

    with service.sessions() as session:
        search_row = session.scalars(
            select(searches.Search).order_by(searches.Search.id.desc()).limit(1)
        ).one()
        votes = searches.search_votes(session, search_row.id)
    assert search_row.text == "цветы"
    assert search_row.latency_ms > 0
    assert search_row.weights == {
        "@tag": 1.0,
        "@text": 1.0,
        "@visual": ModelParams().modality_weights["@visual"],
    }
    assert votes == {search_row.result_ids[0]: 1, search_row.result_ids[1]: -1}


def test_an_unknown_word_gets_a_clear_message_with_suggestions(app):
    search(app, "qwertyzzz")

    assert not app.exception
    message = shown(app.warning[0])
    assert "does not know any of these words: qwertyzzz" in message
    assert "Try words the collection is about" in message


def test_an_empty_query_asks_for_words_or_a_photo(app):
    search(app, "   ")

    assert "Type a few words or choose a photo" in shown(app.warning[0])


def test_a_file_that_is_not_an_image_gets_a_clear_message(app):
    search(app, "", ("photo.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg"))

    assert not app.exception
    assert "Could not read the photo" in shown(app.error[0])


# --------------------------------------------------------------------------------------------------
# Annotate, Topics, About
# --------------------------------------------------------------------------------------------------


def test_an_uploaded_photo_gets_hashtags_words_and_the_steps_to_its_visual_words(app):
    app.switch_page("views/annotate.py").run()
    app.file_uploader[0].set_value(jpeg("tiger.jpg")).run()

    assert not app.exception
    assert "Hashtags" in [markdown.value.strip("*") for markdown in app.markdown]
    assert any(text.startswith("tiger") for text in texts(app))  # the CNN's top class
    assert len(app.get("plotly_chart")) == 4  # hashtags, words, flattening, visual words


def test_annotating_a_broken_upload_says_so(app):
    app.switch_page("views/annotate.py").run()
    app.file_uploader[0].set_value(("cut.png", b"\x89PNG\r\n\x1a\n\0\0", "image/png")).run()

    assert not app.exception
    assert "Could not read the photo" in shown(app.error[0])


def test_a_russian_visitor_reads_why_the_photo_was_refused_in_russian(app):
    app.segmented_control(key="language").set_value("ru").run()
    app.switch_page("views/annotate.py").run()
    app.file_uploader[0].set_value(("page.jpg", b"<html></html>", "image/jpeg")).run()

    assert not app.exception
    refusal = shown(app.error[0])
    assert refusal.startswith("Не удалось прочитать фотографию: это не изображение")
    assert "image" not in refusal


def test_the_topics_page_hides_junk_topics_and_shows_moderators_labels_as_typed(app, service):
    with service.sessions() as session:
        version = store.active_version(session)
        junk, relabelled = store.version_topics(session, version.id)[:2]
        original = (junk.status, relabelled.label)
        junk.status, relabelled.label = "junk", "<b>Кошки</b> *cats*"
        session.add_all([junk, relabelled])
        session.commit()
    try:
        app.switch_page("views/topics.py").run()

        headers = [header.value for header in app.subheader]
        assert escape_markdown(f"<b>Кошки</b> *cats* (#{relabelled.index})") in headers
        assert not any(f"#{junk.index})" in header.replace("\\", "") for header in headers)
    finally:
        with service.sessions() as session:
            junk.status, relabelled.label = original
            session.add_all([junk, relabelled])
            session.commit()


def test_finding_topics_by_a_term_lists_only_the_topics_that_have_it(app, service):
    app.switch_page("views/topics.py").run()
    app.text_input[0].input("dog").run()

    expected = visible_topics(service.topics(), "dog", include_background=False)
    labels = service.topic_labels(language="en")  # as an English visitor reads them
    shown = [header.value for header in app.subheader]
    assert 0 < len(shown) == min(len(expected), 10)
    assert shown == [escape_markdown(f"{labels[t.index]} (#{t.index})") for t in expected[:10]]


def test_a_link_to_topics_found_by_a_term_opens_them_on_its_page_and_a_new_term_on_its_first(
    app, service
):
    expected = visible_topics(service.topics(), "animals", include_background=False)
    assert len(expected) > 10  # two pages at least
    labels = service.topic_labels(language="en")

    # the address holds the search and the page (a reload, Back, a shared link)
    app.query_params.update({"find": "animals", "page": "2"})
    app.switch_page("views/topics.py").run()
    assert app.text_input(key="find").value == "animals"
    assert shown_topics(app) == {topic.index for topic in expected[10:20]}
    assert app.subheader[0].value == escape_markdown(
        f"{labels[expected[10].index]} (#{expected[10].index})"
    )

    # another term starts at its first page
    find_topics(app, "dog")
    dog = visible_topics(service.topics(), "dog", include_background=False)
    assert shown_topics(app) == {topic.index for topic in dog[:10]}


def test_the_about_page_shows_the_version_modalities_and_training_curves(app):
    app.switch_page("views/about.py").run()

    assert not app.exception
    assert "Version **v0001**" in app.markdown[0].value
    assert "the built-in collection" not in app.markdown[1].value  # a copy, shown by its path
    assert len(app.dataframe) == 1  # the modalities
    assert len(app.get("plotly_chart")) == 2
    assert not any("τ = 0)" in markdown.value for markdown in app.markdown)


@pytest.mark.parametrize(
    ("language", "ranking", "index"),
    [("en", "by query likelihood", "exact"), ("ru", "по правдоподобию запроса", "точный")],
)
def test_the_about_page_says_which_configuration_answers_queries(
    monkeypatch, built, language, ranking, index
):
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(built.settings.data_dir))
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["language"] = language
    app.run().switch_page("views/about.py").run()

    configuration = next(shown(m) for m in app.markdown if DEFAULT_BACKBONE in shown(m))
    lines = configuration.splitlines()
    assert len(lines) == 6
    assert f"**{built.settings.collection.name}**" in lines[0]
    assert f"{built.report.num_documents} " in lines[0] and "**300**" in lines[1]
    assert ranking in lines[2] and f"λ = {RankingParams().own_weight:g}" in lines[2]
    assert f" {RankingParams().context_weight:g};" in lines[2]  # what the phrase's context counts
    assert index in lines[4]
    picture = BUILT_IN["@visual"].in_language(language)
    assert f"{picture} 0.005" in lines[5]


# --------------------------------------------------------------------------------------------------
# No model yet
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_without_a_model_every_page_says_how_to_build_one(monkeypatch, tmp_path, page):
    app = open_app(monkeypatch, tmp_path)

    app.switch_page(page).run()

    assert not app.exception
    assert "python -m core build" in shown(app.info[0])


# --------------------------------------------------------------------------------------------------
# Bugs and rough edges found in the browser (issue 13)
# --------------------------------------------------------------------------------------------------


def slider(app: AppTest, label: str):
    return next(s for s in app.select_slider if s.label == label)


def test_back_to_everyones_weights_puts_the_sliders_back(app):
    search(app, "цветы")
    slider(app, "Words").set_value(0.0).run()

    next(b for b in app.button if b.label == "Back to everyone's weights").click().run()

    assert not [key for key in app.query_params if key.startswith("w-")]
    assert slider(app, "Words").value == 1.0


def test_a_query_over_the_length_limit_says_so_instead_of_searching(app):
    search(app, "собака " * 500)

    assert not app.exception
    assert "at most 2,000 characters, this one has 3,500" in app.error[0].value
    assert not any("results" in caption.value for caption in app.caption)


def test_the_topics_page_finds_whole_words_not_parts_of_words(monkeypatch, deployment):
    sessions = database.open_database(deployment.database_url)
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


def test_sliders_step_on_a_scale_where_the_picture_weight_can_move_in_small_steps(app):
    search(app, "цветы")
    picture = slider(app, "Picture")

    assert [s.label for s in app.select_slider] == ["Hashtags", "Words", "Picture"]
    steps = picture.options
    assert "0.005" in steps and "0.01" in steps and "0.002" in steps and steps[0] == "Off"


def test_a_photo_only_query_says_only_the_picture_counts(app):
    search(app, "", jpeg("dog.jpg"))

    assert any("Only the picture counts" in info.value for info in app.info)


def test_a_query_whose_words_are_switched_off_says_the_slider_is_at_zero(app):
    search(app, "цветы")
    slider(app, "Words").set_value(0.0).run()
    slider(app, "Hashtags").set_value(0.0).run()

    message = shown(app.warning[0])
    assert "slider of each is at 0" in message and "Words" in message
    assert "Try words" not in message


@pytest.mark.parametrize("typed", ["🐱🐶 !!", "the and of"])
def test_a_query_without_a_word_to_read_says_what_is_left_out(app, typed):
    search(app, typed)

    message = shown(app.warning[0])
    assert "no word the model can read" in message and "common words" in message
    assert "'the'" not in message


def test_a_vote_is_confirmed(app):
    search(app, "цветы")

    app.feedback[0].set_value(1).run()

    assert [toast.value for toast in app.toast] == ["Thank you: your vote is saved."]


def test_long_captions_are_clamped_with_the_full_text_in_the_tooltip(app):
    search(app, "музыка")
    result = app.session_state["answer"][1]
    long = [n for n, hit in enumerate(result.hits) if len(hit.text) > 200]
    assert long, "the query should find a document with a long caption"

    for n in long:
        caption = cards(app)[n].splitlines()[0].rstrip()
        assert caption.endswith("…") and len(caption) < 200
        assert " ".join(result.hits[n].text.split()) in tooltips(app)[n]
        assert tooltips(app)[n].startswith("**Full caption**")


def test_a_typed_hashtag_is_suggested_next_to_the_search_box(app):
    assert any("#cats" in caption.value for caption in app.caption)


def test_more_like_this_ranks_by_the_documents_own_topics_and_leaves_it_out(app, service):
    search(app, "цветы")
    first = app.session_state["answer"][1].hits[0]

    next(b for b in app.button if b.label == "More like this").click().run()

    assert not app.exception
    result = app.session_state["answer"][1]
    expected = service.more_like(first.id, SearchRequest(k=len(result.hits)))
    assert [hit.id for hit in result.hits] == [hit.id for hit in expected.hits]
    assert first.id not in {hit.id for hit in result.hits}
    assert any(first.text[:20] in shown(info) for info in app.info)


def test_more_like_this_from_the_topics_page_opens_the_search_page(app):
    app.switch_page("views/topics.py").run()

    next(b for b in app.button if b.label == "More like this").click().run()

    assert not app.exception
    assert app.title[0].value == "Search photos by meaning"
    assert any("Documents like" in shown(info) for info in app.info)


def test_two_classes_with_one_name_stay_two_bars_in_their_order():
    figure = charts.horizontal_bars(["missile", "tiger", "missile"], [5, 3, 2], "times drawn")

    bar = figure.data[0]
    assert list(bar.x) == [5, 3, 2] and len(set(bar.y)) == 3
    ticks = dict(zip(figure.layout.yaxis.tickvals, figure.layout.yaxis.ticktext, strict=True))
    assert [ticks[y] for y in sorted(bar.y, reverse=True)] == ["missile", "tiger", "missile"]


# --------------------------------------------------------------------------------------------------
# Both languages
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_in_both_languages(monkeypatch, built, page, language):
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(built.settings.data_dir))
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["language"] = language
    app.run().switch_page(page).run()
    if page == "views/search.py":
        search(app, "кошка")
    if page == "views/annotate.py":
        app.file_uploader[0].set_value(jpeg("tiger.jpg")).run()

    assert not app.exception
    title = app.title[0].value
    assert title == MESSAGES[language][TITLES[page]]
    other = MESSAGES["en" if language == "ru" else "ru"]
    foreign = {text for text in other.values() if isinstance(text, str) and "{" not in text}
    foreign -= {text for text in MESSAGES[language].values() if isinstance(text, str)}
    shown = [*app.caption, *app.markdown, *app.info, *app.warning, *app.subheader]
    labels = [element.label for element in [*app.button, *app.text_input, *app.expander]]
    assert not foreign & ({element.value for element in shown} | set(labels))


def test_the_language_follows_the_switch(app):
    assert app.title[0].value == "Search photos by meaning"

    app.segmented_control(key="language").set_value("ru").run()

    assert app.title[0].value == "Поиск фотографий по смыслу"
    app.segmented_control(key="language").set_value(None).run()  # "Русский" clicked again
    assert app.title[0].value == "Поиск фотографий по смыслу"
    assert app.segmented_control(key="language").value == "ru"


def test_a_russian_visitor_reads_imagenet_classes_in_russian_and_english_ones_marked(app):
    app.segmented_control(key="language").set_value("ru").run()
    app.switch_page("views/annotate.py").run()
    app.file_uploader[0].set_value(jpeg("tiger.jpg")).run()

    assert not app.exception
    top = [text.rsplit(": ", 1)[0] for text in texts(app) if text.endswith("%")]
    assert top[:2] == ["тигр", f"{visual_display(visual_token(282))} (англ.)"]  # tiger, tiger cat
    assert "полосатая кошка" in top  # tabby cat

"""Russian and English words reach each other's documents: pairs learned from the collection,
and the shipped dictionary for what the collection never says in both languages."""

from __future__ import annotations

from collections import Counter

import pytest

from core.reading.text import TAG, TEXT, TextProcessor
from core.serving import bilingual
from core.serving.answers import SearchRequest
from core.serving.bilingual import (
    LEXICON_SHARE,
    Lexicon,
    TranslationParams,
    Translations,
    default_lexicon,
    learn_translations,
    shipped_lexicon,
)
from core.serving.class_words import object_names
from core.serving.engine import Query, SearchEngine
from core.serving.inference import NothingRecognized
from core.serving.ranking import BEFORE_SENSES, BEFORE_SYNONYMS, RankingParams
from core.serving.version_files import VersionFiles


def test_a_russian_word_lists_the_common_english_words_it_translates_first():
    # given a dictionary where 'корабль' is ship's second translation and a rare word's first
    lexicon = Lexicon(
        {
            "ship": (4.9, ["судно", "корабль"]),
            "coalburn": (0.0, ["корабль"]),
            "boat": (4.7, ["лодка", "корабль"]),
        }
    )
    # then the common words come first, one Zipf unit lost per place behind the first
    assert lexicon.of("корабль", 3) == ["ship", "boat", "coalburn"]
    assert lexicon.of("корабль", 1) == ["ship"]
    # and an English word lists its Russian words in the dictionary's order
    assert lexicon.of("ship", 3) == ["судно", "корабль"]
    assert lexicon.of("unknown", 3) == []


def test_the_collection_pairs_come_first_and_the_dictionary_fills_in_at_a_lower_share():
    lexicon = Lexicon({"book": (5.5, ["книга"]), "volum": (5.0, ["том", "книга"])})
    translations = Translations({"книга": [("booklet", 0.6)]}, lexicon, per_word=2)
    assert translations.of("книга") == [("booklet", 0.6), ("book", LEXICON_SHARE)]
    assert translations.with_lexicon(None).of("книга") == [("booklet", 0.6)]
    assert Translations({}, lexicon, per_word=3).of("том") == [("volum", LEXICON_SHARE)]
    # and a word the collection already pairs per_word times gets the dictionary's first only
    full = Translations({"книга": [("booklet", 0.6), ("tome", 0.5)]}, lexicon, per_word=2)
    assert full.of("книга") == [("booklet", 0.6), ("tome", 0.5), ("book", LEXICON_SHARE)]


@pytest.mark.parametrize("merge_every", [1, 5, bilingual.PAIR_MERGE])
def test_pairs_are_learned_by_the_dice_coefficient_of_the_documents_they_share(
    merge_every, monkeypatch
):
    # given three bilingual documents (a word twice in one document counts once) and one
    # in a single script, which teaches no pair
    documents = [
        {TEXT: Counter({"кот": 2, "cat": 1, "dog": 1})},
        {TEXT: Counter({"кот": 1}), TAG: Counter({"cat": 1})},
        {TEXT: Counter({"собака": 1, "dog": 1, "cat": 1, "2024": 1})},
        {TEXT: Counter({"собака": 1, "пёс": 1})},
    ]
    # when their pairs are counted, merged into the running counts every few pairs
    monkeypatch.setattr(bilingual, "PAIR_MERGE", merge_every)
    params = TranslationParams(min_documents=1, min_dice=0.5, relative=0.1)
    learned = Translations.learn(documents, lambda tag: tag, params)
    # then a pair's coefficient is twice its documents over its words' bilingual documents
    # (кот 2, cat 3, dog 2, собака 1); 'кот'-'dog' and 'собака'-'cat' just reach 0.5
    assert learned.table == {
        "cat": [("кот", 0.8), ("собака", 0.5)],
        "dog": [("собака", 2 / 3), ("кот", 0.5)],
        "кот": [("cat", 0.8), ("dog", 0.5)],
        "собака": [("dog", 2 / 3), ("cat", 0.5)],
    }
    # and the table is in word order, so a version's file is the same on every run
    assert list(learned.table) == sorted(learned.table)


def test_a_pair_is_confirmed_by_the_other_words_best_or_the_dictionarys_first_translation():
    # given pairs learned from documents: big cats tagged 'кошки', French flags, coins as money
    lexicon = Lexicon(
        {
            "lion": (4.5, ["лев"]),
            "cat": (5.0, ["кошка"]),
            "flag": (4.6, ["флаг", "знамя"]),
            "coin": (4.3, ["монета", "деньга"]),
            "money": (5.6, ["деньга"]),
        }
    )
    table = {
        "lion": [("лев", 0.9), ("кошка", 0.6)],
        "лев": [("lion", 0.9)],
        "кошка": [("cat", 0.92), ("lion", 0.6)],
        "flag": [("франция", 0.69), ("флаг", 0.6)],
        "франция": [("france", 0.9), ("flag", 0.69)],
        "coin": [("монета", 1.0), ("деньга", 0.75)],
        "монета": [("coin", 1.0)],
        "деньга": [("money", 1.0), ("coin", 0.75)],
    }
    translations = Translations(table, lexicon, per_word=3)
    # then a pair counts when the other word translates back first ('лев' -> 'lion') or the
    # dictionary translates it first ('flag' -> 'флаг'), not a related word of the same
    # documents ('кошка', 'франция') or a later sense ('деньги')
    assert translations.of("lion") == [("лев", 0.9), ("кошка", 0.6)]
    assert translations.confirmed("lion") == [("лев", 0.9)]
    assert translations.confirmed("flag") == [("флаг", 0.6), ("знамя", LEXICON_SHARE)]
    assert translations.confirmed("coin") == [("монета", 1.0)]
    # and the dictionary's own pairs need no confirmation
    assert Translations({}, lexicon).confirmed("cat") == [("кошка", LEXICON_SHARE)]


def test_a_word_keeps_the_dictionarys_first_translation_past_a_full_list():
    # given a collection that pairs 'автомобиль' with per_word words of the same few documents
    # (a car's brand, a celebrity's car), none of them 'car'; 'вагон' is a railway car
    lexicon = Lexicon({"car": (5.3, ["автомобиль", "машина", "вагон"])})
    table = {
        "автомобиль": [("auto", 1.0), ("chevi", 0.67), ("celebr", 0.67)],
        "auto": [("автомобиль", 1.0)],
        "car": [("автомобиль", 0.5), ("гонка", 0.33)],
    }
    translations = Translations(table, lexicon, per_word=3)
    # then a Russian query for cars, or one leaving cars out, still reaches the cars captioned
    # in English
    assert translations.of("автомобиль")[-1] == ("car", LEXICON_SHARE)
    assert translations.confirmed("автомобиль") == [("auto", 1.0), ("car", LEXICON_SHARE)]
    # and no later sense comes with it: "train -car" keeps the railway cars
    assert translations.confirmed("car") == [("автомобиль", 0.5), ("машина", LEXICON_SHARE)]


def test_a_query_word_also_reaches_its_synonyms_through_the_other_language():
    # given a collection that pairs 'ship' with 'корабль', and a dictionary that translates
    # 'корабль' as 'ship' and 'boat'; 'lion' -> 'кошка' is a related word, not a translation
    lexicon = Lexicon({"ship": (4.9, ["корабль"]), "boat": (4.7, ["лодка", "корабль"])})
    table = {
        "ship": [("корабль", 0.75)],
        "корабль": [("ship", 0.75)],
        "lion": [("лев", 0.9), ("кошка", 0.6)],
        "лев": [("lion", 0.9)],
        "кошка": [("cat", 0.92), ("lion", 0.6)],
    }
    translations = Translations(table, lexicon, per_word=3)
    # then 'ship' also finds boats, at the product of the two shares, after its translations
    found = translations.with_synonyms("ship")
    assert found[: len(translations.of("ship"))] == translations.of("ship")
    assert ("boat", 0.75 * LEXICON_SHARE) in found
    # and only through translations both ways: 'lion' does not reach 'cat' through 'кошка'
    assert "cat" not in [word for word, _ in translations.with_synonyms("lion")]


def test_the_shipped_dictionary_is_in_the_projects_own_tokens():
    # given the shipped dictionary's Russian tokens (every 25th English entry's)
    processor = TextProcessor()
    lexicon = default_lexicon()
    english = lexicon.english_tokens()
    assert len(english) > 10_000
    sample = {word for token in english[::25] for word in lexicon.of(token, 10)}
    # then they are what the text processor makes of words (lemmas, 'е' for 'ё'), so a query's
    # token finds them; pymorphy's lemma of a lemma is now and then another word ('чара')
    changed = [w for w in sample if processor.word_token(w) != w]
    assert len(changed) <= 0.01 * len(sample), changed


def test_the_shipped_dictionary_reads_second_senses_and_later_homonyms():
    # given the shipped dictionary: 'ball' is 1) шар, 2) мяч; 'truck' I is barter, II a lorry
    lexicon = default_lexicon()
    # then both are there, each way, and the first sense still comes first
    assert lexicon.of("ball", 3)[0] == "шар" and "мяч" in lexicon.of("ball", 5)
    assert lexicon.of("мяч", 1) == ["ball"] and "truck" in lexicon.of("грузовик", 3)


def _untranslated_pair(engine) -> tuple[str, str]:
    """A dictionary pair (Russian, English) whose English token some document contains and
    whose Russian token no document does, nor any pair the collection learned."""
    vocabulary = engine.model.phi[TEXT].index
    lexicon = default_lexicon()
    for english in lexicon.english_tokens():
        if english not in vocabulary:
            continue
        for russian in lexicon.of(english, 3):
            if (
                russian not in vocabulary
                and not engine.reader.translations.table.get(russian)
                and lexicon.of(russian, 3)[:1] == [english]
                and engine.processor.word_token(russian) == russian
            ):
                return russian, english
    pytest.fail("no untranslated dictionary pair in the collection")


def test_a_russian_word_the_collection_never_uses_finds_documents_with_its_english_word(
    service,
):
    # given a Russian word no document has, whose dictionary translation some documents have
    engine = service.active().engine
    russian, english = _untranslated_pair(engine)
    with_english = {doc.id for doc in engine.documents if doc.tokens.get(TEXT, {}).get(english)}
    # when it is searched with the default ranking
    result = service.search(SearchRequest(Query(text=russian), k=5))
    # then the best hit has the English word, and says it was found through the translation
    assert result.hits[0].id in with_english
    assert any(shown.startswith(f"{russian} → ") for shown in result.hits[0].matched)
    # and without the dictionary the word is not understood at all
    try:
        alone = service.search(
            SearchRequest(Query(text=russian), k=5, ranking=RankingParams(lexicon=False))
        )
    except NothingRecognized:
        return
    assert not any(hit.matched for hit in alone.hits)


def test_a_built_version_stores_its_word_pairs_and_a_replica_reads_them_not_the_records(
    service, monkeypatch
):
    # given the built version, whose build learned the pairs of its bilingual documents
    engine = service.active().engine
    stored = VersionFiles(engine.directory).read_translations(default_lexicon())
    learned = learn_translations(engine.document_tokens(), engine.processor)
    # then what it stored is what its documents teach, dictionary included
    assert stored is not None and stored.table and stored.table == learned.table
    assert stored.of("птица") == learned.of("птица")
    # and a replica starting on it reads them without reading a record's tokens
    replica = SearchEngine(engine.directory, engine.version_name, engine.processor, None)
    monkeypatch.setattr(
        SearchEngine, "document_tokens", lambda self: pytest.fail("read every record")
    )
    assert replica.reader.translations.table == learned.table


def test_a_word_the_model_knows_only_as_a_hashtag_is_also_searched_by_its_translations(service):
    # given a Russian word no caption of the collection uses, the name of a hashtag (a twin of
    # a category tag), whose translation captions do use
    engine = service.active().engine
    vocabulary = engine.model.phi[TEXT].index
    found = [
        (word, tags, english)
        for word, tags in engine.reader.tags_by_word.items()
        if word not in vocabulary
        for english, _ in engine.reader.translations.of(word)[:1]
        if english in vocabulary
    ]
    assert found, "no word known only as a hashtag"
    word, tags, english = found[0]
    # when it is searched, its terms are read
    tokens, _ = engine.reader.tokens_of(Query(text=word))
    (term,) = engine.reader.query_terms(tokens, RankingParams(), word)
    # then its hashtags and its translation are forms of one term: a document with the
    # translation is found by it as a document with the hashtag is
    forms = {(modality, token) for modality, token, _ in term.forms}
    assert {(TAG, tag) for tag in tags} | {(TEXT, english)} <= forms


def test_a_dictionary_word_can_put_the_sense_that_names_a_photographed_object_first():
    # given a dictionary that lists 'train' as upbringing first and the railway train fifth,
    # and a rare word whose first sense is 'поезд'
    lexicon = Lexicon(
        {
            "train": (5.2, ["воспитание", "обучение", "тренировочный", "учебный", "поезд"]),
            "rattler": (2.3, ["поезд", "болтун"]),
        }
    )
    # when the senses that name the object 'train' names in photos come first
    objects = lexicon.objects_first({"train": {"поезд", "паровоз"}})
    # then 'train' is a railway train first, the other senses after it in their order, and
    # an object name the dictionary does not give is not added
    assert objects.of("train", 3) == ["поезд", "воспитание", "обучение"]
    assert "паровоз" not in objects.of("train", 10)
    # and back, 'поезд' is 'train' before the rare word, as it was not before
    assert lexicon.of("поезд", 2) == ["rattler", "train"]
    assert objects.of("поезд", 2) == ["train", "rattler"]


def test_a_russian_word_can_keep_only_the_english_words_it_is_the_first_sense_of():
    # given 'чашка', first sense of 'cup' and second of 'basin'; 'открытый', second sense of
    # the common 'open' and first of the rare 'overt'
    table = {
        "cup": (5.1, ["чашка", "кубок"]),
        "basin": (4.1, ["таз", "чашка"]),
        "open": (5.5, ["отверстие", "открытый"]),
        "overt": (2.4, ["открытый", "явный"]),
        "unclos": (1.5, ["открытый"]),
        "ajar": (2.0, ["приоткрытый", "открытый"]),
    }
    plain, first = Lexicon(table), Lexicon(table, first_senses_back=True)
    assert plain.of("чашка", 3) == ["cup", "basin"]
    # then a query for cups does not look for basins, the English side is as it was
    assert first.of("чашка", 3) == ["cup"]
    assert first.of("basin", 3) == plain.of("basin", 3)
    # and a word keeps its best English word and those it is the first sense of
    assert plain.of("открытый", 4) == ["open", "overt", "unclos", "ajar"]
    assert first.of("открытый", 4) == ["open", "overt", "unclos"]
    assert first.of("кубок", 3) == ["cup"]
    # and the setting survives putting object senses first
    assert plain.objects_first({}).of("чашка", 3) == ["cup", "basin"]
    assert first.objects_first({}).of("чашка", 3) == ["cup"]


def test_the_shipped_object_names_put_the_railway_train_first():
    # given the project's ImageNet class words, as the text processor reads them
    names = object_names(TextProcessor())
    assert "поезд" in names["train"]
    # then the shipped dictionary read with them makes 'train' a railway train, and back
    lexicon = shipped_lexicon(objects_first=True, first_senses_back=False)
    assert lexicon.of("train", 1) == ["поезд"] and lexicon.of("поезд", 1) == ["train"]
    assert default_lexicon().of("train", 1) != ["поезд"]
    assert shipped_lexicon(False, False) is default_lexicon()


def test_a_ranking_reads_the_dictionary_as_its_settings_say(service):
    # given the built collection's reader and the English word 'train' as a query's token
    reader = service.active().engine.reader
    tokens = {TEXT: Counter({"train": 1})}

    def forms(ranking: RankingParams) -> set[str]:
        return {token for term in reader.query_terms(tokens, ranking) for _, token, _ in term.forms}

    # then a ranking with object senses first looks for 'поезд', one without does not, and
    # one without the dictionary looks for neither
    assert "поезд" in forms(RankingParams(object_senses_first=True))
    assert "поезд" not in forms(RankingParams(object_senses_first=False))
    assert "воспитание" not in forms(RankingParams(lexicon=False))
    # and the default looks for cups, not basins, for 'чашка', as the dictionary first read did
    cup = {TEXT: Counter({"чашка": 1})}

    def cup_forms(ranking: RankingParams) -> set[str]:
        return {token for term in reader.query_terms(cup, ranking) for _, token, _ in term.forms}

    assert "cup" in cup_forms(RankingParams()) and "basin" not in cup_forms(RankingParams())
    assert "basin" in cup_forms(BEFORE_SENSES)
    # and a synonym through the other language ('telephone' -> 'телефон' -> 'phone') counts
    # the product of its two shares ** synonym_share, while a hit matches it at the product
    phone = {TEXT: Counter({TextProcessor().word_token("telephone"): 1})}

    def shares(terms) -> dict[str, float]:
        return {token: share for term in terms for _, token, share in term.forms}

    counted = shares(reader.query_terms(phone, RankingParams()))
    product = shares(reader.query_terms(phone, BEFORE_SYNONYMS))
    assert counted["phone"] > product["phone"]
    assert counted["phone"] == pytest.approx(product["phone"] ** 0.5)
    assert shares(reader.matched_terms(phone, RankingParams())) == product
    # and each reading is made once
    ranking = RankingParams(object_senses_first=True)
    assert reader.translations_for(ranking) is reader.translations_for(ranking)

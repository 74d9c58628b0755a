"""The search parts of ``python -m core eval``: rankings, concept queries, text -> image.

Every ranking of ``core.serving.ranking`` is measured on the same trained model, since a ranking is
a query-time choice: text -> image (a test document's text against the test photos alone) and the
concept-query benchmark (``core.serving.concepts``) on the benchmark's test split and on the
built-in collection. ``RANKINGS`` names the rows; the first is the article's pure-topic setup.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.building.ingest import LocalIngest
from core.building.pipeline import document_thetas, prepare_corpus, train_and_write_version
from core.measurement.concepts import run_attributes, run_phrases, run_sentences
from core.measurement.search_checks import checks_section, test_split_checks
from core.reading.collection import Document, TokenCounts, import_collection
from core.reading.text import TextProcessor
from core.reading.twins import tag_twins
from core.reading.vision import VISUAL, ImageVectorizer
from core.serving.answers import SearchRequest
from core.serving.concepts import LANGUAGES, engine_ranker, engine_words, run_concepts
from core.serving.engine import Query, SearchEngine
from core.serving.index import IndexParams, NeighborIndex
from core.serving.inference import NothingRecognized
from core.serving.model import FittedModel, ModelParams
from core.serving.ranking import (
    ARTICLE_RANKING,
    BEFORE_ATTRIBUTES,
    BEFORE_PHRASES,
    BEFORE_SENSES,
    BEFORE_SENTENCES,
    BEFORE_SYNONYMS,
    DocumentTokens,
    RankedDocuments,
    RankingParams,
    ranker_for,
)
from core.serving.version_files import VersionFiles
from core.settings import BUILTIN_COLLECTION

RANKINGS: dict[str, RankingParams] = {
    "topics": ARTICLE_RANKING,
    "likelihood before phrases": BEFORE_PHRASES,
    "likelihood, no dictionary": RankingParams(lexicon=False),
    "likelihood before sentences": BEFORE_SENTENCES,
    "likelihood before attributes": BEFORE_ATTRIBUTES,
    "likelihood before dictionary senses": BEFORE_SENSES,
    "likelihood before synonyms": BEFORE_SYNONYMS,
    "likelihood": RankingParams(),
    "likelihood, Russian head by case": RankingParams(head_by_case=True),
    "likelihood, + head bonus": RankingParams(head_bonus=1.0),
    "likelihood, lambda 0.9": RankingParams(own_weight=0.9),
    "likelihood, + rarity": RankingParams(rarity=0.5),
}
WORDLESS_PHOTOS = "likelihood, photos without predicted words"
RANKING_NAMES = {
    "topics": "topics only: L1 between topic vectors (the article's search)",
    "likelihood before phrases": "query likelihood alone (lambda 0.5), no bonus per query word a"
    " document contains: the default before the phrase benchmark",
    "likelihood, no dictionary": "query likelihood, translations learned from the collection only",
    "likelihood before sentences": "query likelihood with topic smoothing (Wei & Croft),"
    " dictionary translations (core/assets/lexicon_en_ru.tsv) and coordination (a bonus per"
    " query word a document contains): the default before the sentence benchmark",
    "likelihood before attributes": "the same, with the words after the phrase's head (its"
    " first noun phrase, up to a preposition or verb) counted 0.25: the default before the"
    " attribute levers",
    "likelihood before dictionary senses": "the same, with an attribute of the head's object"
    " ('red' of 'red bird') counted 0.5 in a document without the object: the default before"
    " the dictionary's senses were chosen",
    "likelihood before synonyms": "the same, with an English word's dictionary senses that"
    " name the object it names in photos first ('train' -> 'поезд',"
    " core/assets/imagenet_words.tsv) and a Russian word's English words kept to its best one"
    " and those it is the first sense of ('чашка' -> 'cup', not 'basin'): the default before"
    " synonyms through the other language counted more",
    "likelihood": "the same, with a synonym through the other language ('telephone' ->"
    " 'телефон' -> 'phone') counted the product of its two translations' shares ** 0.5 (a"
    " dictionary's dictionary synonym 0.25, as a dictionary translation), not the product"
    " (0.0625): the default",
    "likelihood, Russian head by case": "the default, with a Russian head read by case (the"
    " noun in the nominative, not after a preposition, with its adjectives; left off)",
    "likelihood, + head bonus": "the default, with a document containing every word of a"
    " head of two or more counted one word more (left off)",
    "likelihood, lambda 0.9": "the default, with lambda 0.9: topics 0.1, a tie-breaker (left off)",
    "likelihood, + rarity": "the default, with each word weighted by its rarity (idf / mean"
    " idf) ** 0.5 (left off)",
    WORDLESS_PHOTOS: "the default, but a photo without words has none of its own (before "
    "SearchEngine.photo_words)",
}
# The photo search before its predicted terms were its annotation as Annotate gives it: hashtags
# and words predicted from its visual words alone (no class names of the backbone).
PHOTO_SEARCH_BEFORE = RankingParams(photo_tags=0.25, photo_words=0.1, photo_as_annotated=False)
# Image -> image through the engine's photo search, one row per ranking (``PhotoSearch``).
PHOTO_RANKINGS: dict[str, RankingParams] = {
    "topics": ARTICLE_RANKING,
    "visual words": RankingParams(photo_tags=0.0, photo_words=0.0),
    "before annotation": PHOTO_SEARCH_BEFORE,
    "hashtags and words": RankingParams(photo_tags=1.0, photo_words=1.0),
    "hashtags": RankingParams(photo_tags=1.0, photo_words=0.0),
    "swept weights": RankingParams(photo_tags=1.0, photo_words=0.25),
    "likelihood": RankingParams(),
}
PHOTO_RANKING_NAMES = {
    "topics": "topics only: L1 between topic vectors (the article's search; the Retrieval"
    " table's row)",
    "visual words": "query likelihood of the photo's visual words (the engine's photo search"
    " before predicted terms)",
    "before annotation": f"+ the hashtags (weight {PHOTO_SEARCH_BEFORE.photo_tags:g}) and words"
    f" (weight {PHOTO_SEARCH_BEFORE.photo_words:g}) predicted from its visual words alone,"
    " without the backbone's class names (before the photo was searched by what Annotate says)",
    "hashtags and words": "+ the hashtags and words of its annotation as Annotate gives it,"
    " weight 1 each",
    "hashtags": "+ the hashtags of its annotation as Annotate gives it, weight 1, no words",
    "swept weights": "+ the hashtags of its annotation as Annotate gives it, weight 1, and its"
    " words, weight 0.25 (the validation sweep's best; left off: a deer before the second"
    " giraffe in tests/test_photo_search.py)",
    "likelihood": "+ the hashtags of its annotation as Annotate gives it, weight"
    f" {RankingParams().photo_tags:g}, and its words, weight {RankingParams().photo_words:g}"
    " (the default)",
}
IMAGE_TO_IMAGE_TARGET = 0.35
PHOTO_WORDS_TOLERANCE = 0.01  # the photo search sweep's rule for the words' weight
Progress = Callable[[str], None]
TEXT_TO_IMAGE_TARGET = 0.40
CONCEPT_TARGET = 0.85
CONCEPT_RATIO = 0.9


def with_twins(document: Document, on: bool = True) -> Document:
    """The document with the Russian twins of its category tags (``on``) or without any."""
    twins = tag_twins()
    tags = (
        twins.with_twins(document.tags)
        if on
        else [t for t in document.tags if twins.original(t) == t]
    )
    return replace(document, tags=tuple(tags))


def text_to_image_distances(
    engine: SearchEngine,
    texts: Sequence[str],
    photo_thetas: np.ndarray,
    ranking: RankingParams,
    photo_words: Sequence[TokenCounts] | None = None,
) -> np.ndarray:
    """texts x photos, lower is better: minus each photo's score under ``ranking`` (L1 between
    topic vectors, or the text's log likelihood under the photo: a document without words has
    its topics, smoothed by the training collection's word frequencies, or, given
    ``photo_words``, the words its annotation predicts as its own); a text the model cannot
    read is infinitely far."""
    weights = engine.default_weights
    if photo_words is None:
        photos_alone = engine.own_tokens.without_tokens(len(photo_thetas))
    else:
        photos_alone = DocumentTokens(engine.model.phi, photo_words, engine.own_tokens.collection)
    photos = RankedDocuments(
        photo_thetas, NeighborIndex(photo_thetas), engine.model.phi, photos_alone
    )
    ranker = ranker_for(ranking, photos)
    distances = np.full((len(texts), len(photo_thetas)), np.inf)
    for row, text in enumerate(texts):
        query = Query(text=text)
        try:
            theta = engine.infer(SearchRequest(query, weights=weights, ranking=ranking)).theta
        except NothingRecognized:
            continue
        tokens, _ = engine.reader.tokens_of(query)
        terms = engine.reader.query_terms(tokens, ranking, text)
        distances[row] = -ranker.scores(theta, terms, weights)
    return distances


class PhotoSearch:
    """Photos searched by photos as the engine does it: each photo asked alone
    (``SearchEngine.search``'s query reading and ``ranked_terms``), the others indexed as
    documents without words (their topic vectors, their visual words and the words and
    hashtags their annotation predicts as their own: ``QueryAnnotator.photo_words``, as the
    engine indexes a photo without words)."""

    def __init__(self, engine: SearchEngine, images: Sequence, thetas: np.ndarray) -> None:
        """``thetas``: each photo's theta asked alone (``engine.infer``)."""
        self.engine = engine
        self.queries = [Query(image=image) for image in images]
        self.tokens = [engine.reader.tokens_of(query)[0] for query in self.queries]
        self.thetas = thetas
        self.words = [engine.annotation.photo_words(tokens[VISUAL]) for tokens in self.tokens]
        own = DocumentTokens(
            engine.model.phi,
            [{VISUAL: t[VISUAL], **w} for t, w in zip(self.tokens, self.words, strict=True)],
            engine.own_tokens.collection,
        )
        self.documents = RankedDocuments(thetas, NeighborIndex(thetas), engine.model.phi, own)

    def distances(self, ranking: RankingParams) -> np.ndarray:
        """photos x photos, lower is better: minus each photo's score under ``ranking`` when
        the row's photo is asked alone."""
        ranker = ranker_for(ranking, self.documents)
        weights = self.engine.default_weights
        rows = []
        for query, tokens, theta in zip(self.queries, self.tokens, self.thetas, strict=True):
            terms = self.engine.reader.query_terms(tokens, ranking)
            terms = self.engine.ranked_terms(query, tokens, terms, ranking)
            rows.append(-ranker.scores(theta, terms, weights))
        return np.stack(rows)


def index_documents(
    workdir: Path,
    model: FittedModel,
    params: ModelParams,
    documents: list[Document],
    processor: TextProcessor,
    vectorizer: ImageVectorizer,
    trained: SearchEngine,
) -> SearchEngine:
    """A searchable version of ``documents`` over a trained ``model``: each document's theta
    inferred from all its modalities, as a new document added to a running model would be.
    Word translations come from the ``trained`` engine's documents, not from these."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    corpus = prepare_corpus(documents, params, LocalIngest(processor, vectorizer))
    thetas = document_thetas(model, params, corpus.tokens, params.modality_weights)
    files = VersionFiles(workdir)
    files.write_index(NeighborIndex(thetas, IndexParams()).build())
    files.write(params, model, corpus, processor.word_token)
    engine = SearchEngine(workdir, workdir.name, processor, vectorizer)
    engine.reader.translations = trained.reader.translations
    return engine


def concept_scores(
    engine: SearchEngine,
    processor: TextProcessor,
    rankings: Mapping[str, RankingParams],
    run: Callable[..., dict] = run_concepts,
) -> dict[str, dict]:
    """A concept benchmark (``run``: the concepts, or ``run_phrases``) on every document of
    ``engine``, once per ranking."""
    words = engine_words(engine, processor)
    return {
        name: run(engine_ranker(engine, ranking), words, processor)
        for name, ranking in rankings.items()
    }


BUILTIN_SETS = {
    "builtin_concepts": run_concepts,
    "builtin_phrases": run_phrases,
    "builtin_sentences": run_sentences,
    "builtin_attributes": run_attributes,
}


def builtin_concepts(
    workdir: Path,
    params: ModelParams,
    processor: TextProcessor,
    vectorizer: ImageVectorizer,
    collection: Path = BUILTIN_COLLECTION,
    progress: Progress | None = None,
) -> dict[str, dict]:
    """The concept, phrase, sentence and attribute benchmarks on the built-in collection
    (``BUILTIN_SETS``: set -> setup -> scores), with and without the Russian twins of its
    category tags: a model trained on all of it per variant, every ranking on each; and, with
    twins, the checks past precision@5 (``builtin_checks``)."""
    documents = import_collection(collection).documents
    results: dict[str, dict] = {name: {} for name in BUILTIN_SETS}
    for twins in (False, True):
        if progress:
            progress(f"built-in collection, twins {'on' if twins else 'off'}: training")
        directory = workdir / f"builtin-twins-{'on' if twins else 'off'}"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        corpus = prepare_corpus(
            [with_twins(d, twins) for d in documents], params, LocalIngest(processor, vectorizer)
        )
        train_and_write_version(directory, corpus, params, IndexParams(), None, {})
        engine = SearchEngine(directory, directory.name, processor, vectorizer)
        variant = f"twins {'on' if twins else 'off'}"
        for name, run in BUILTIN_SETS.items():
            for ranking, scores in concept_scores(engine, processor, RANKINGS, run).items():
                results[name][f"{ranking}, {variant}"] = scores
        if twins:
            results["builtin_checks"] = test_split_checks(engine, processor)
        shutil.rmtree(directory, ignore_errors=True)
    return results


# --------------------------------------------------------------------------- the report


def concept_table(rows: Mapping[str, dict], second_five: bool = False) -> list[str]:
    """P@5 per language per setup; with ``second_five`` also P@10 over the concepts with at
    least 10 relevant documents."""
    head = "| setup | concepts | P@5 English | P@5 Russian | Russian / English |"
    rule = "|---|---|---|---|---|"
    if second_five:
        head += " concepts with >= 10 | P@10 English | P@10 Russian |"
        rule += "---|---|---|"
    lines = [head, rule]
    for name, scores in rows.items():
        en, ru = (scores[f"precision@5_{lang}"] for lang in LANGUAGES)
        ratio = f"{ru / en:.2f}" if en else "n/a"
        line = f"| {name} | {scores['concepts']} | {en:.3f} | {ru:.3f} | {ratio} |"
        if second_five:
            line += (
                f" {scores.get('concepts@10', 0)} | {scores.get('precision@10_en', 0):.3f}"
                f" | {scores.get('precision@10_ru', 0):.3f} |"
            )
        lines.append(line)
    return lines


def search_section(results: dict, plots: Sequence[str] = ()) -> list[str]:
    """The report's ranking and concept sections, from ``run_evaluation``'s results."""
    ours = results["methods"]["ours"]
    lines = [
        "## Rankings (same trained model, query-time choice)",
        "",
        "Text -> image as above (a test document's text; its photo alone among the test photos:"
        " a document without words, searched by the words and hashtags its annotation predicts,"
        " as the engine indexes one; `SearchEngine.photo_words`).",
        "",
        "| ranking | R@1 | R@5 | R@10 | MRR |",
        "|---|---|---|---|---|",
    ]
    for name, scores in ours["text_to_image_by_ranking"].items():
        lines.append(
            f"| {RANKING_NAMES[name]} | "
            + " | ".join(
                f"{scores[key]:.3f}" for key in ("recall@1", "recall@5", "recall@10", "mrr")
            )
            + " |"
        )
    lines += [
        "",
        "## Concept queries (`data/eval/concepts.json`, rule in `data/eval/CONCEPTS.md`)",
        "",
        "Each concept asked once in English and once in Russian; precision@5 divided by"
        " min(5, relevant documents); concepts without a relevant document are left out.",
        "",
        "### Benchmark test split (model trained on train + validation, test documents indexed"
        " into it)",
        "",
        *concept_table(
            {
                **{RANKING_NAMES[n]: s for n, s in ours["concepts_by_ranking"].items()},
                "(c) article's setup (50 topics, weights 1), topics": results["methods"]["article"][
                    "concepts_by_ranking"
                ]["topics"],
            },
            second_five=True,
        ),
        "",
    ]
    if results.get("builtin_concepts"):
        lines += [
            "### Built-in collection (model trained on all of it; twins: Russian twins of the"
            " category hashtags)",
            "",
            *concept_table(results["builtin_concepts"], second_five=True),
            "",
            "`topics, twins off` is the setup before issue 11 (the article's ranking on the"
            " collection without twins).",
            "",
        ]
    lines += phrase_section(results)
    lines += query_set_section(results, "sentences", SENTENCES_INTRO)
    lines += query_set_section(results, "attributes", ATTRIBUTES_INTRO)
    lines += checks_section(results)
    lines += ranking_sweep_section(results.get("ranking_sweep"))
    lines += sentence_sweep_section(results.get("sentence_sweep"))
    lines += [f"![{Path(plot).stem}]({plot})" for plot in plots]
    return [*lines, "", *search_targets(results)]


def photo_search_section(results: dict) -> list[str]:
    """Image -> image as the engine searches by photo, one row per ``PHOTO_RANKINGS`` entry,
    next to baseline (b), the target, and the photo search sweep if recorded."""
    by_ranking = results["methods"]["ours"].get("image_to_image_by_ranking")
    if not by_ranking:
        return []
    baseline = results["methods"]["neighbours"]["image_to_image_map@10"]
    lines = [
        "## Photo search (image -> image, same trained model, query-time choice)",
        "",
        "Each test photo asked alone, as a visitor searches by photo (`SearchEngine.search`:"
        " `ranked_terms`); the other test photos indexed as photos without words (their visual"
        " words and the hashtags and words their annotation predicts, as the engine indexes"
        " one); relevant = sharing a tag. Settings (`RankingParams.photo_tags`, `photo_words`)"
        " chosen on the validation split (below).",
        "",
        "| photo search | image->image mAP@10 |",
        "|---|---|",
        *(f"| {PHOTO_RANKING_NAMES[name]} | {value:.3f} |" for name, value in by_ranking.items()),
        f"| (b) CNN neighbours: L1 between CNN probabilities | {baseline:.3f} |",
        "",
    ]
    default = next(name for name, r in PHOTO_RANKINGS.items() if r == RankingParams())
    mine = by_ranking[default]
    short = IMAGE_TO_IMAGE_TARGET - mine
    verdict = "met" if short <= 0 else f"missed by {short:.3f}"
    lines += [
        f"- Image -> image mAP@10 >= {IMAGE_TO_IMAGE_TARGET} as the engine searches by photo:"
        f" {mine:.3f}: **{verdict}**.",
        "",
    ]
    record = results.get("photo_sweep")
    if record:
        best = RankingParams.from_dict(record["best"])
        lines += [
            "### Photo search sweep (validation split: model trained on train)",
            "",
            "Coordinate search from the photo search of the time"
            f" ({describe_photo_search(RankingParams.from_dict(record['start']))}), one setting"
            " after another, each fixed at its best value before the next; objective = image ->"
            " image mAP@10; the words take the largest weight within"
            f" {PHOTO_WORDS_TOLERANCE:g} of their best (they name the object, which sharing a"
            f" tag does not see). Best: {describe_photo_search(best)}"
            + (" (the default)." if best == RankingParams() else " (not the default: above)."),
            "",
            "| setting | value | mAP@10 |",
            "|---|---|---|",
            *(
                f"| {r['setting']} | {setting_value(r['value'])} | {r['map@10']:.4f} |"
                for r in record["rows"]
            ),
            "",
        ]
    return lines


def describe_photo_search(ranking: RankingParams) -> str:
    """A photo search's settings as a sweep names them."""
    source = "annotation as Annotate gives it" if ranking.photo_as_annotated else "visual words"
    return (
        f"hashtags x {ranking.photo_tags:g}, words x {ranking.photo_words:g}, predicted from"
        f" its {source}"
    )


def setting_value(value: object) -> str:
    """A swept value as a table shows it: a switch as on/off, a number as short as it goes."""
    return ("on" if value else "off") if isinstance(value, bool) else f"{value:g}"


def ranking_sweep_section(record: dict | None) -> list[str]:
    """The ranking sweep on the validation split (``core.measurement.eval_sweeps.sweep_rankings``),
    if recorded."""
    if not record:
        return []
    # a sweep recorded before the context and attribute weights read every word alike
    best = RankingParams.from_dict(
        {"context_weight": 1.0, "attribute_weight": 1.0, **record["best"]}
    )
    default = "the default" if best == RankingParams() else f"the default: {RankingParams().label}"
    lines = [
        "## Ranking sweep (validation split: model trained on train, validation documents"
        " indexed into it)",
        "",
        "Coordinate search from the ranking before the phrase benchmark, one setting after"
        " another, each fixed at its best value before the next; objective = (concept P@5 +"
        " phrase P@5, each the mean of the two languages, + text -> image R@10) / 3. Best: "
        f"{best.label} ({default}).",
        "",
        "| setting | value | objective | concept P@5 en | ru | phrase P@5 en | ru "
        "| text->image R@10 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in record["rows"]:
        lines.append(
            f"| {row['setting']} | {row['value']:g} | {row['objective']:.4f} "
            f"| {row['concept_p@5_en']:.3f} | {row['concept_p@5_ru']:.3f} "
            f"| {row['phrase_p@5_en']:.3f} | {row['phrase_p@5_ru']:.3f} "
            f"| {row['text_to_image_recall@10']:.3f} |"
        )
    return [*lines, ""]


def sentence_sweep_section(record: dict | None) -> list[str]:
    """The sentence sweep on the validation split (``core.measurement.eval_sweeps.
    sweep_sentences``), if recorded."""
    if not record:
        return []
    best = RankingParams.from_dict(record["best"])
    default = "the default" if best == RankingParams() else f"the default: {RankingParams().label}"
    lines = [
        "## Sentence sweep (validation split: model trained on train, validation documents"
        " indexed into it)",
        "",
        "The levers for sentences and attribute + object queries, coordinate search from the"
        " default ranking, one setting after another, each fixed at its best value before the"
        " next; objective = the mean of concept, phrase, sentence and attribute P@5, each the"
        f" mean of the two languages. Best: {best.label} ({default}).",
        "",
        "| setting | value | objective | concept P@5 en | ru | phrase P@5 en | ru "
        "| sentence P@5 en | ru | attribute P@5 en | ru (pairs) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in record["rows"]:
        lines.append(
            f"| {row['setting']} | {row['value']:g} | {row['objective']:.4f} | "
            + " | ".join(
                f"{row[f'{name}_p@5_{lang}']:.3f}"
                for name in ("concept", "phrase", "sentence", "attribute")
                for lang in LANGUAGES
            )
            + f" ({row['attribute_pairs']}) |"
        )
    return [*lines, ""]


def phrase_section(results: dict) -> list[str]:
    """The phrase benchmark's tables, where measured."""
    ours = results["methods"]["ours"]
    if "phrases_by_ranking" not in ours:
        return []
    lines = [
        "## Phrase queries (`data/eval/phrases.json`, rule in `data/eval/CONCEPTS.md`)",
        "",
        "Each concept asked as its query followed by a fixed everyday context (concept i gets"
        " context i mod 12: 'bird in the city', 'птица в городе'); a document is relevant when"
        " it is relevant to the concept; precision@5 as for the concepts.",
        "",
        "### Benchmark test split",
        "",
        *concept_table({RANKING_NAMES[n]: s for n, s in ours["phrases_by_ranking"].items()}),
        "",
    ]
    if results.get("builtin_phrases"):
        lines += [
            "### Built-in collection",
            "",
            *concept_table(results["builtin_phrases"]),
            "",
        ]
    return lines


SENTENCES_INTRO = (
    "## Sentence queries (`data/eval/sentences.json`, rule in `data/eval/SENTENCES.md`)",
    "One natural sentence per concept: the object with an action, a place or other things of the"
    " scene ('a dog playing on the grass', 'яблоки в плетёной корзине'); a document is relevant"
    " when it is relevant to the concept; precision@5 as for the concepts; P@10 over the"
    " concepts with at least 10 relevant documents.",
)
ATTRIBUTES_INTRO = (
    "## Attribute + object queries (`data/eval/attributes.json`, rule in `data/eval/SENTENCES.md`)",
    "Every attribute (colour, size, material, age) with every concept ('red bird', 'красная"
    " птица'); relevant when the document is of the concept and carries the attribute's word;"
    " only pairs with at least 3 relevant documents are scored (the 'concepts' column counts"
    " pairs).",
)


def query_set_section(results: dict, name: str, intro: tuple[str, str]) -> list[str]:
    """A query set's tables (``{name}_by_ranking`` on the test split, ``builtin_{name}``)."""
    ours = results["methods"]["ours"]
    if f"{name}_by_ranking" not in ours:
        return []
    by_ranking = ours[f"{name}_by_ranking"]
    lines = [
        intro[0],
        "",
        intro[1],
        "",
        "### Benchmark test split",
        "",
        *concept_table({RANKING_NAMES[n]: s for n, s in by_ranking.items()}, second_five=True),
        "",
    ]
    if results.get(f"builtin_{name}"):
        lines += [
            "### Built-in collection",
            "",
            *concept_table(results[f"builtin_{name}"], second_five=True),
            "",
        ]
    return lines


def search_targets(results: dict) -> list[str]:
    """Issue 11's search targets, met or missed, for the default ranking."""
    default = next(name for name, r in RANKINGS.items() if r == RankingParams())
    ours = results["methods"]["ours"]
    recall = ours["text_to_image_by_ranking"][default]["recall@10"]
    lines = [
        "### Search targets (default ranking)",
        "",
        f"- Text -> image Recall@10 >= {TEXT_TO_IMAGE_TARGET}: {recall:.3f}: "
        + ("**met**." if recall >= TEXT_TO_IMAGE_TARGET else "**missed**."),
    ]
    setups = {"benchmark test split": ours["concepts_by_ranking"][default]}
    if results.get("builtin_concepts"):
        setups["built-in collection"] = results["builtin_concepts"][f"{default}, twins on"]
    for where, scores in setups.items():
        en, ru = scores["precision@5_en"], scores["precision@5_ru"]
        met = min(en, ru) >= CONCEPT_TARGET and ru >= CONCEPT_RATIO * en
        lines.append(
            f"- Concept P@5 >= {CONCEPT_TARGET} in each language and Russian >= {CONCEPT_RATIO}"
            f" x English, {where}: English {en:.3f}, Russian {ru:.3f}: "
            + ("**met**." if met else "**missed**.")
        )
    return lines


def write_plots(results: dict, sweep_record: dict | None, reports: Path) -> list[str]:
    """Static PNGs for the report (matplotlib, no display): precision@5 per language for every
    concept setup, and the sweep's objective per setting. Returns their names in ``reports``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    names = []
    setups = {
        f"test: {name}": scores
        for name, scores in results["methods"]["ours"].get("concepts_by_ranking", {}).items()
    }
    setups.update({f"built-in: {n}": s for n, s in results.get("builtin_concepts", {}).items()})
    if setups:
        figure, axes = pyplot.subplots(figsize=(9, 0.5 * len(setups) + 1.5))
        positions = np.arange(len(setups))
        for offset, language in ((-0.2, "en"), (0.2, "ru")):
            values = [s[f"precision@5_{language}"] for s in setups.values()]
            axes.barh(positions + offset, values, height=0.4, label=language)
        axes.set_yticks(positions, list(setups))
        axes.invert_yaxis()
        axes.set_xlim(0, 1)
        axes.axvline(0.85, color="grey", linestyle="--", linewidth=1)
        axes.set_xlabel("concept precision@5 (target 0.85, dashed)")
        axes.legend(loc="lower right")
        figure.tight_layout()
        figure.savefig(reports / "eval-concepts.png", dpi=90)
        pyplot.close(figure)
        names.append("eval-concepts.png")
    if sweep_record and sweep_record.get("rows"):
        settings = list(dict.fromkeys(row["setting"] for row in sweep_record["rows"]))
        figure, axes = pyplot.subplots(1, len(settings), figsize=(2.6 * len(settings), 2.8))
        for axis, setting in zip(np.atleast_1d(axes), settings, strict=True):
            rows = [row for row in sweep_record["rows"] if row["setting"] == setting]
            axis.plot([str(r["value"]) for r in rows], [r["objective"] for r in rows], marker="o")
            axis.set_title(setting, fontsize=9)
            axis.tick_params(labelsize=8)
        figure.suptitle("sweep on validation: objective per setting", fontsize=10)
        figure.tight_layout()
        figure.savefig(reports / "eval-sweep.png", dpi=90)
        pyplot.close(figure)
        names.append("eval-sweep.png")
    return names

"""Reading a query: its text, photo and extra tokens into bags of tokens, terms and a theta.

A word and a hashtag of the same normalized form are one thing to a visitor, and a word the model
does not know stands for its translations that it does (``core.serving.bilingual``); a photo
becomes the visual words the model's parameters sample from the backbone's classes. Read-only
after construction, so one reader serves many threads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from functools import cached_property, partial
from pathlib import Path

import numpy as np

from core.reading.collection import Document, TokenCounts
from core.reading.images import content_hash
from core.reading.text import TAG, TEXT, TextProcessor
from core.reading.vision import (
    VISUAL,
    ImageVectorizer,
    flatten_probabilities,
    sample_visual_words,
    top_classes,
    visual_display,
    visual_token,
)
from core.serving.answers import PhotoReading, Query
from core.serving.bilingual import Translations, shipped_lexicon
from core.serving.class_words import ClassNameWords
from core.serving.inference import NothingRecognized, QueryTheta, ThetaInferencer
from core.serving.model import ModelParams, Phi
from core.serving.ranking import (
    QueryTerm,
    RankingParams,
    context_weighted,
    query_terms,
)

Surfaces = dict[str, dict[str, str]]  # modality -> token -> its form in the query


class QueryReader:
    """Turns what a visitor asks with into what the model reads: tokens, terms, theta.

    ``translations`` gives the word pairs across the two languages once, on first use (the
    version's stored ones, or learned from its documents: ``SearchEngine``).
    """

    def __init__(
        self,
        phi: Mapping[str, Phi],
        params: ModelParams,
        inferencer: ThetaInferencer,
        processor: TextProcessor,
        vectorizer: ImageVectorizer | None,
        translations: Callable[[], Translations],
    ) -> None:
        self.phi = phi
        self.params = params
        self.inferencer = inferencer
        self.processor = processor
        self.vectorizer = vectorizer
        self._translations_of_version = translations
        self.tags_by_word = self._tags_by_word()

    def _tags_by_word(self) -> dict[str, list[str]]:
        """Hashtags by the `@text` token of their name: 'birds' is found by 'bird'."""
        tags: dict[str, list[str]] = {}
        for tag in self.phi[TAG].tokens if TAG in self.phi else []:
            token = self.processor.word_token(tag)
            if token is not None:
                tags.setdefault(token, []).append(tag)
        return tags

    def tokens_of(
        self, query: Query, said: AbstractSet[str] = frozenset()
    ) -> tuple[TokenCounts, Surfaces]:
        """Bags of tokens per modality, and each token's surface form in the query: its words
        and hashtags (``typed_tokens``), its photo's visual words, and for a word the model
        does not know what the model knows by it (``_read_unknown_words``), unless documents
        added since training say it (``said``): it stays the word they say."""
        tokens, surfaces = self.typed_tokens(query)
        if query.image is not None:
            tokens[VISUAL] = self.visual_words(query.image)
        self._read_unknown_words(tokens, said)
        return tokens, surfaces

    def typed_tokens(self, query: Query) -> tuple[TokenCounts, Surfaces]:
        """The query's text and extra tokens as bags per modality, each with its surface form.

        A word and a hashtag of the same normalized form are one thing to a visitor: every query
        word also counts as the hashtags that share its form ('bird' as #birds, and #птицы for
        'птица' through the Russian twin), and a typed hashtag also counts as its word.
        """
        tokens: TokenCounts = {m: Counter(bag) for m, bag in query.extra.items()}
        surfaces: Surfaces = {}
        if query.text.strip():
            analyzed = self.processor.analyze(query.text)
            for modality, token, surface in analyzed.surfaces:
                tokens.setdefault(modality, Counter())[token] += 1
                surfaces.setdefault(modality, {}).setdefault(token, surface)
            words = Counter(analyzed.tokens[TEXT])
            for tag, count in analyzed.tokens[TAG].items():
                word = self.processor.word_token(tag)
                if word is not None and word not in words:
                    words[word] += count
                    tokens.setdefault(TEXT, Counter())[word] += count
                    surfaces.setdefault(TEXT, {}).setdefault(word, "#" + tag)
            for token, count in words.items():
                for tag in self.tags_by_word.get(token, ()):
                    if tag not in analyzed.tokens[TAG]:
                        tokens.setdefault(TAG, Counter())[tag] += count
        return tokens, surfaces

    def _read_unknown_words(self, tokens: TokenCounts, said: AbstractSet[str]) -> None:
        """A word the model's ``@text`` vocabulary lacks stands for what the model knows by it:
        its hashtags (already among ``tokens``) or its translations (both ``readable``), else
        the visual words of the ImageNet classes it names (``ClassNameWords``), which
        annotation suggests for photos of things the collection never shows. Changes
        ``tokens``; a word known by hashtags or translations stays, so that the ranking finds
        documents by all of them (``query_terms``), and so does a word added documents say
        (``said``), beside its classes' visual words."""
        words = tokens.get(TEXT)
        known = self.phi[TEXT].index if TEXT in self.phi else {}
        visual = self.phi[VISUAL].index if VISUAL in self.phi else {}
        for word in [word for word in words or () if word not in known]:
            if self.tags_by_word.get(word) or any(
                translation in known for translation, _ in self.translations.of(word)
            ):
                continue
            named = self.class_words.visual_tokens(word)
            named = {token: share for token, share in named.items() if token in visual}
            if named:
                count = words[word] if word in said else words.pop(word)
                bag = tokens.setdefault(VISUAL, Counter())
                total = sum(named.values())
                for token, share in named.items():
                    bag[token] += count * share / total

    @cached_property
    def class_words(self) -> ClassNameWords:
        """The backbone's class names as words (the table is built on first use)."""
        return ClassNameWords(self.processor)

    def visual_words(self, image: bytes | Path) -> Counter[str]:
        """The photo's sampled visual words (deterministic for the same image content)."""
        return visual_words(self.probabilities(image), self.params, content_hash(image))

    def read_photo(self, image: bytes | Path, top: int = 10) -> PhotoReading:
        """The steps from a photo to its visual words, for showing them (raises ``ImageError``).

        Only the Annotate page needs the intermediate steps; queries call ``visual_words``.
        """
        probabilities = self.probabilities(image)
        return PhotoReading(
            probabilities=probabilities,
            flattened=flatten_probabilities(probabilities, self.params.flattening_strength),
            visual_words=visual_words(probabilities, self.params, content_hash(image)),
            top_classes=top_classes(probabilities, top),
            samples=self.params.visual_samples,
        )

    def probabilities(self, image: bytes | Path) -> np.ndarray:
        """The backbone's class distribution for the photo."""
        if self.vectorizer is None:
            raise RuntimeError("this engine was loaded without an image backbone")
        return self.vectorizer.probabilities([image])[0]

    def infer(
        self,
        tokens: TokenCounts,
        surfaces: Surfaces,
        weights: Mapping[str, float],
        ranking: RankingParams,
    ) -> QueryTheta:
        """Theta of the ``readable`` tokens; unknown tokens are named as the query typed them
        (raises ``NothingRecognized``)."""
        try:
            result = self.inferencer.transform(self.readable(tokens, ranking), weights)
        except NothingRecognized as error:
            raise NothingRecognized(_surface_forms(error.unknown, surfaces)) from None
        result.unknown = _surface_forms(result.unknown, surfaces)
        return result

    def query_terms(
        self, tokens: TokenCounts, ranking: RankingParams, text: str = ""
    ) -> list[QueryTerm]:
        """The query's tokens grouped into terms: a word with its hashtags, translations and
        synonyms through them (``core.serving.ranking``, ``Translations.with_synonyms``, a
        synonym's share ** ``ranking.synonym_share``), the dictionary's among them if
        ``ranking`` wants them; the words after the head of the typed ``text`` count
        ``ranking.context_weight``."""
        translations = self.translations_for(ranking)
        terms = query_terms(
            tokens,
            self.tags_by_word,
            partial(translations.with_synonyms, exponent=ranking.synonym_share),
        )
        plain = ranking.context_weight == 1 and not ranking.head_bonus
        if (plain and ranking.attribute_weight == 1) or not text:
            return terms
        head = self.processor.phrase_head(text, by_case=ranking.head_by_case)
        return context_weighted(terms, head.words, ranking.context_weight, head.attributes)

    def matched_terms(
        self, tokens: TokenCounts, ranking: RankingParams, text: str = ""
    ) -> list[QueryTerm]:
        """``query_terms`` with each synonym at the product of its translations' shares, however
        much ``ranking`` counts it (``RankingParams.synonym_share``): what a hit shows as
        matched and how close a word it contains is to the query's (``REMOTE_SHARE``: a
        dictionary translation's dictionary translation stays one)."""
        return self.query_terms(tokens, replace(ranking, synonym_share=1.0), text)

    def excluded_terms(self, words: Sequence[str], ranking: RankingParams) -> list[QueryTerm]:
        """The terms of words a query excludes (``-word``), grouped as the query's own words
        are (the word, its hashtags), with the translations the pair confirms both ways
        (``Translations.confirmed``): a learned pair's other word is often a related word of
        the same documents ('lion' -> 'кошка', 'flag' -> 'франция'), and leaving those out
        took every cat from "cat -lion". A word stays the word as typed even where the model
        does not know it, or knows it only as photos' classes: what is left out is what says
        it (``SearchEngine``), never a photo for how it looks."""
        if not words:
            return []
        tokens, _ = self.typed_tokens(Query(text=" ".join(words)))
        return query_terms(tokens, self.tags_by_word, self.translations_for(ranking).confirmed)

    def can_read(self, word: str, ranking: RankingParams) -> bool:
        """Whether a typed word reaches the model: it knows the word, a hashtag of its form or a
        translation of it (a stop word or a number has nothing to reach it with: True)."""
        token = self.processor.word_token(word)
        if token is None or token in self.tags_by_word:
            return True
        known = self.phi[TEXT].index if TEXT in self.phi else {}
        return token in known or any(
            w in known for w, _ in self.translations_for(ranking).of(token)
        )

    def readable(self, tokens: TokenCounts, ranking: RankingParams) -> TokenCounts:
        """The query's tokens as the model can read them: a word it does not know stands for
        its hashtags (already among the tokens: the word is dropped), else for its translations
        that it does, its count shared among them by their shares (so a Russian word the
        collection never uses still places the query in topic space)."""
        words = tokens.get(TEXT)
        known = self.phi[TEXT].index if TEXT in self.phi else {}
        if not words or all(word in known for word in words):
            return tokens
        translations, readable = self.translations_for(ranking), Counter()
        for word, count in words.items():
            if word not in known and self.tags_by_word.get(word):
                continue
            found = [(w, s) for w, s in translations.of(word) if w in known]
            if word in known or not found:
                readable[word] += count
                continue
            total = sum(share for _, share in found)
            for translation, share in found:
                readable[translation] += count * share / total
        return {**tokens, TEXT: readable}

    def typed_words(self, doc: Document, ranking: RankingParams) -> TokenCounts:
        """A collection document's caption and hashtags as this reader reads them when a
        visitor types them (a caption too long to type: its own tokens)."""
        text = " ".join([doc.text, *(f"#{tag}" for tag in doc.tags)])
        try:
            tokens, _ = self.tokens_of(Query(text=text.strip()))
        except ValueError:
            tokens = token_counts(doc.tokens)
        readable = self.readable(tokens, ranking)
        return {modality: bag for modality, bag in readable.items() if modality != VISUAL and bag}

    def translations_for(self, ranking: RankingParams) -> Translations:
        """The version's translations with the dictionary as ``ranking`` reads it, or without
        it; each made once."""
        senses = (ranking.object_senses_first, ranking.first_senses_back)
        lexicon = shipped_lexicon(*senses) if ranking.lexicon else None
        if lexicon is self.translations.lexicon:
            return self.translations
        made = self.__dict__.setdefault("_translations_by_lexicon", {})
        key = senses if ranking.lexicon else None
        if key not in made:
            made[key] = self.translations.with_lexicon(lexicon)
        return made[key]

    @cached_property
    def translations(self) -> Translations:
        """Word pairs across Russian and English learned from the bilingual documents, then
        the shipped dictionary's (``core.serving.bilingual``)."""
        return self._translations_of_version()


def token_counts(tokens: Mapping[str, Mapping[str, float]]) -> TokenCounts:
    """Stored bags of tokens (a document's ``tokens``) as counts per modality."""
    return {modality: Counter(bag) for modality, bag in tokens.items()}


def display_form(display_forms: Mapping[str, Mapping[str, str]], modality: str, token: str) -> str:
    """How a token is shown: ImageNet class name, or the most frequent surface form seen."""
    if modality == VISUAL:
        return visual_display(token)
    return display_forms.get(modality, {}).get(token, token)


def visual_words(probabilities: np.ndarray, params: ModelParams, image_hash: str) -> Counter[str]:
    """A photo's visual words as the model's parameters sample them; the same for the same
    image content, whether it is a collection document or a query."""
    return Counter(
        sample_visual_words(
            probabilities,
            n_samples=params.visual_samples,
            strength=params.flattening_strength,
            seed=image_hash,
        )
    )


def expected_visual_words(probabilities: np.ndarray, params: ModelParams) -> Counter[str]:
    """A photo's visual words as the expected counts of the draws ``visual_words`` makes:
    ``visual_samples`` times the flattened distribution (fractional counts, no sampling noise)."""
    flat = flatten_probabilities(probabilities, params.flattening_strength)
    expected = params.visual_samples * flat / flat.sum()
    return Counter({visual_token(int(i)): float(expected[i]) for i in np.flatnonzero(expected > 0)})


def _surface_forms(
    unknown: Mapping[str, list[str]], surfaces: Mapping[str, Mapping[str, str]]
) -> dict[str, list[str]]:
    return {
        modality: [surfaces.get(modality, {}).get(token, token) for token in tokens]
        for modality, tokens in unknown.items()
    }

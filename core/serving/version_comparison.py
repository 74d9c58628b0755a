"""A version beside the active one, before an admin activates it: the figures that tell whether
it serves better, in the same terms for both.

- Perplexity per modality: the last training pass's, as each version stored it (lower fits its
  training documents better; a re-index keeps its parent's model, so its figures are the
  parent's).
- The collection's own concept queries (``core.serving.concepts``): precision@5 per language of
  each version's own search, with the weights it serves with (the active version's live ones).
- Topics: how many of the active version's topics match one of the other's
  (``core.serving.topic_matching``), i.e. what moderators' labels could follow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.reading.text import TextProcessor
from core.serving.answers import Query, SearchRequest
from core.serving.concepts import LANGUAGES, Ranker, engine_words, run_concepts
from core.serving.engine import SearchEngine
from core.serving.model import Phi
from core.serving.topic_matching import MATCH_THRESHOLD, match_topics, topic_similarity

PERPLEXITY = "perplexity"


@dataclass(frozen=True)
class VersionFigures:
    """One version's figures: final perplexity per modality, concept precision@5 per language
    over ``concepts`` concepts (those with a relevant document), and its number of topics."""

    name: str
    topics: int
    perplexity: dict[str, float]
    precision: dict[str, float]
    concepts: int


@dataclass(frozen=True)
class VersionComparison:
    """The active version's figures and a candidate's, and how many of the active version's
    topics match one of the candidate's (similarity from ``threshold`` up)."""

    active: VersionFigures
    candidate: VersionFigures
    matched_topics: int
    threshold: float = MATCH_THRESHOLD

    @property
    def modalities(self) -> list[str]:
        """The modalities with a perplexity in either version, in a stable order."""
        return sorted(set(self.active.perplexity) | set(self.candidate.perplexity))


def final_perplexity(scores: Any) -> dict[str, float]:
    """Modality -> the last training pass's perplexity, from a version's stored scores (one
    dict per pass: ``{"perplexity@text": ...}``); empty when none were stored."""
    last = scores[-1] if isinstance(scores, Sequence) and scores else {}
    return {
        key[len(PERPLEXITY) :]: float(value)
        for key, value in last.items()
        if key.startswith(f"{PERPLEXITY}@") and isinstance(value, int | float)
    }


def searcher(engine: SearchEngine, weights: Mapping[str, float]) -> Ranker:
    """``rank(text, k)`` by the engine's own search with these weights."""

    def rank(text: str, k: int) -> list[int]:
        request = SearchRequest(Query(text=text), k, weights)
        return [hit.row for hit in engine.search(request).hits]

    return rank


def version_figures(
    name: str,
    scores: Any,
    engine: SearchEngine,
    weights: Mapping[str, float],
    processor: TextProcessor,
) -> VersionFigures:
    """The figures of version ``name`` served by ``engine`` with ``weights``: about 3 s for the
    built-in collection's 126 concept queries."""
    concepts = run_concepts(searcher(engine, weights), engine_words(engine, processor), processor)
    judged = concepts["concepts"]  # none: a collection the concepts are not about
    return VersionFigures(
        name=name,
        topics=engine.params.num_topics,
        perplexity=final_perplexity(scores),
        precision={lang: concepts[f"precision@5_{lang}"] for lang in LANGUAGES} if judged else {},
        concepts=judged,
    )


def compare_versions(
    active: VersionFigures,
    candidate: VersionFigures,
    active_phi: Mapping[str, Phi],
    candidate_phi: Mapping[str, Phi],
) -> VersionComparison:
    """The two versions' figures side by side, with the active topics that match."""
    matches = match_topics(topic_similarity(active_phi, candidate_phi))
    return VersionComparison(active, candidate, sum(match.matched for match in matches))

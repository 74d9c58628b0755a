"""When to retrain: how the documents added to the live collection fit the active version's
model, and whether a retrain is due (issue 22, item 4).

Each addition is measured as the fit notice measures the collection's own documents for its
reference (``core.serving.fit``): its words and hashtags as a visitor types them and its photo's
visual words, its topic vector inferred with phi fixed, and its perplexity under that vector.
The reference's documents are asked left out (the model as if trained without each), so a new
document of the kind the collection holds fits like them: about ``WEAK_SHARE`` (5%) of such
additions fit badly (more perplexing than 95% of the reference of their kind). An addition the
model has no topic for (a photo of something the collection never shows, words it knows only in
passing) fits badly much more often; the share of additions that do is what drifts.

The rule (``RetrainRule``), read off ``python -m core bench-drift`` (``reports/drift.md``): a
retrain is due when

1. at least ``min_additions`` additions have been measured and more than
   ``max_bad_fit_share`` of them fit badly, or
2. the additions number more than ``max_added_share`` of the training documents,

whichever comes first. The measured curve behind each threshold is quoted at its constant:
the first catches additions of things the model has no topic for, which a retrain pays for soon;
the second, additions like the training documents, which fit well but which a model trained
with them serves better once they are many. On the test split (train + validation trained, 533
test documents = 12.5% added, the other test half asking) the added model is within 0.01 of the
retrained one on every figure, and 5.2% of the additions fit badly: no retrain due, as the rule
says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

from core.reading.collection import Document
from core.reading.vision import VISUAL
from core.serving.engine import SearchEngine
from core.serving.fit import KINDS, WEAK_SHARE, QueryFit, perplexity
from core.serving.inference import NothingRecognized
from core.serving.service import ActiveModel
from core.storage.collection_changes import addition_dates

# The thresholds come from ``python -m core bench-drift`` (reports/drift.md, benchmark collection:
# 1,195 training documents from the train split, additions of 10-100% of that, queries = the
# validation split, never the test split). A retrain "pays" when it lifts `@tag` F1@5, `@text`
# F1@5 or text->image R@10 by more than 0.02 over the added model.
#
# Additions like the collection fit badly at 6.7-7.5% whatever their number; additions of
# categories the training documents lack (animals, food, plants) at 49.5-57.5%, and retraining
# with them pays already at 10% of the training documents (`@tag` F1@5 +0.044). 15%, twice the
# like-the-collection share, is reached when about one addition in six is of a kind the training
# lacks ((15 - 7) / (55 - 7)).
MAX_BAD_FIT_SHARE = 0.15
# Additions like the collection: retraining lifts no figure by more than 0.015 up to 25% of the
# training documents, and every figure by 0.027-0.032 at 50% (0.034-0.068 at 100%). 25% is the
# last measured share where a retrain does not pay.
MAX_ADDED_SHARE = 0.25
# Fewer additions measure the share too roughly: with 40, additions that fit like the collection
# (7.5% bad, the most measured) exceed 15% by chance with probability 2.8% (binomial; with 30:
# 7.0%).
MIN_ADDITIONS = 40
BATCH = 50  # additions per point of the fit-over-time curve


@dataclass(frozen=True)
class RetrainRule:
    """When a retrain is due (see the module): thresholds set by ``python -m core bench-drift``."""

    max_bad_fit_share: float = MAX_BAD_FIT_SHARE
    max_added_share: float = MAX_ADDED_SHARE
    min_additions: int = MIN_ADDITIONS
    batch: int = BATCH

    def __post_init__(self) -> None:
        if not WEAK_SHARE <= self.max_bad_fit_share <= 1:
            raise ValueError(f"max_bad_fit_share must be in [{WEAK_SHARE}, 1]")
        if self.max_added_share <= 0:
            raise ValueError("max_added_share must be above 0")
        if self.min_additions < 1 or self.batch < 1:
            raise ValueError("min_additions and batch must be at least 1")


@dataclass(frozen=True)
class AdditionFit:
    """One addition's fit: its id, when it was added (None: unknown), and the fit notice's
    verdict on it (``fit.weak``: more perplexing than 95% of the reference of its kind)."""

    doc_id: str
    added_at: datetime | None
    fit: QueryFit


@dataclass(frozen=True)
class FitBatch:
    """``additions`` consecutive additions (in the order they were added): when, the share of
    them that fit badly, and their median perplexity per query kind."""

    first_added: datetime | None
    last_added: datetime | None
    additions: int
    bad_fit_share: float
    median_perplexity: dict[str, float]

    def to_dict(self) -> dict:
        return {
            "first_added": _iso(self.first_added),
            "last_added": _iso(self.last_added),
            "additions": self.additions,
            "bad_fit_share": round(self.bad_fit_share, 4),
            "median_perplexity": {k: round(v, 3) for k, v in self.median_perplexity.items()},
        }


@dataclass(frozen=True)
class DriftReport:
    """The active version's drift: its training documents, the additions and take-downs since,
    how the additions fit (each, and by batch), the reference they are set against (per kind:
    documents, median perplexity, the perplexity beyond which one fits badly) and the verdict."""

    version: str
    training_documents: int
    additions: int
    taken_down: int
    measured: int  # additions the model recognises a token of
    bad_fit_share: float | None
    reference: dict[str, dict[str, float]]
    batches: list[FitBatch]
    fits: list[AdditionFit]
    rule: RetrainRule
    retrain_due: bool
    reasons: list[str] = field(default_factory=list)  # of ``REASONS``

    @property
    def added_share(self) -> float:
        return self.additions / max(self.training_documents, 1)

    def explain(self, reason: str) -> str:
        """A reason of ``reasons`` in plain English (the admin page says it in its language)."""
        if reason == BAD_FIT:
            return (
                f"{self.bad_fit_share:.0%} of {self.measured} additions fit the model badly "
                f"(more than {self.rule.max_bad_fit_share:.0%}; documents like the training "
                f"ones: about {WEAK_SHARE:.0%})"
            )
        return (
            f"{self.additions} additions are {self.added_share:.0%} of the "
            f"{self.training_documents} training documents (more than "
            f"{self.rule.max_added_share:.0%})"
        )

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "training_documents": self.training_documents,
            "additions": self.additions,
            "taken_down": self.taken_down,
            "added_share": round(self.added_share, 4),
            "measured": self.measured,
            "bad_fit_share": None if self.bad_fit_share is None else round(self.bad_fit_share, 4),
            "reference": self.reference,
            "batches": [batch.to_dict() for batch in self.batches],
            "additions_fit": [
                {
                    "doc_id": one.doc_id,
                    "added_at": _iso(one.added_at),
                    "kind": one.fit.kind,
                    "perplexity": round(one.fit.perplexity, 3),
                    "bad_fit": one.fit.weak,
                }
                for one in self.fits
            ],
            "rule": {
                "max_bad_fit_share": self.rule.max_bad_fit_share,
                "max_added_share": self.rule.max_added_share,
                "min_additions": self.rule.min_additions,
                "reference_bad_fit_share": WEAK_SHARE,
            },
            "retrain_due": self.retrain_due,
            "reasons": [{"code": code, "text": self.explain(code)} for code in self.reasons],
        }

    def lines(self) -> list[str]:
        """The report as text, the same fields as ``to_dict`` (each addition left out)."""
        verdict = "a retrain is due" if self.retrain_due else "no retrain is due"
        bad = "-" if self.bad_fit_share is None else f"{self.bad_fit_share:.1%}"
        found = [
            f"version {self.version}: {verdict}",
            *(f"  because {self.explain(reason)}" for reason in self.reasons),
            f"training documents {self.training_documents}; additions {self.additions} "
            f"({self.added_share:.1%}); taken down {self.taken_down}",
            f"additions measured {self.measured}; fit badly {bad} "
            f"(rule: retrain above {self.rule.max_bad_fit_share:.0%} over at least "
            f"{self.rule.min_additions}, or additions above {self.rule.max_added_share:.0%})",
            "reference (training documents left out): kind, documents, median perplexity, "
            "bad fit above",
        ]
        found += [
            f"  {kind}: {row['documents']}, {row['median_perplexity']:.1f}, "
            f"{row['bad_fit_above']:.1f}"
            for kind, row in self.reference.items()
        ]
        if self.batches:
            found.append(
                "additions by batch: first added, last added, additions, fit badly, "
                "median perplexity per kind"
            )
        for batch in self.batches:
            medians = ", ".join(f"{k} {v:.1f}" for k, v in batch.median_perplexity.items())
            found.append(
                f"  {_iso(batch.first_added)}  {_iso(batch.last_added)}  {batch.additions}  "
                f"{batch.bad_fit_share:.0%}  {medians}"
            )
        return found


def addition_fit(engine: SearchEngine, document: Document) -> QueryFit | None:
    """How ``document`` (its tokens under the engine's version) fits the model, measured as the
    fit reference measures the collection's own documents; None when the model recognises none
    of its tokens. ``engine.fit_reference`` must be of the training documents alone (a version's
    engine computes it before any addition is appended)."""
    words = engine.reader.typed_words(document, engine.ranking)
    photo = document.tokens.get(VISUAL)
    tokens = {**words, **({VISUAL: Counter(photo)} if photo else {})}
    weights = engine.default_weights
    try:
        theta = engine.inferencer.transform(tokens, weights).theta
    except NothingRecognized:
        return None
    return engine.fit_reference.fit(perplexity(engine.model.phi, tokens, weights, theta), tokens)


def additions_fit(
    engine: SearchEngine, dates: Mapping[str, datetime] | None = None
) -> list[AdditionFit]:
    """The fit of each document appended to ``engine`` after its version's own (in add order)."""
    dates = dates or {}
    fits = []
    for document in engine.documents[engine.base_documents :]:
        fit = addition_fit(engine, document)
        if fit is not None:
            fits.append(AdditionFit(document.id, dates.get(document.id), fit))
    return fits


def bad_fit_share(fits: Sequence[AdditionFit]) -> float | None:
    return float(np.mean([one.fit.weak for one in fits])) if fits else None


BAD_FIT = "bad_fit"  # reason: too many additions fit badly
MANY_ADDITIONS = "many_additions"  # reason: the additions are too many for the training ones
REASONS = (BAD_FIT, MANY_ADDITIONS)


def judge(
    training_documents: int, additions: int, fits: Sequence[AdditionFit], rule: RetrainRule
) -> list[str]:
    """The reasons (of ``REASONS``) a retrain is due under ``rule``; none: not due."""
    reasons = []
    share = bad_fit_share(fits)
    if share is not None and len(fits) >= rule.min_additions and share > rule.max_bad_fit_share:
        reasons.append(BAD_FIT)
    if additions > rule.max_added_share * training_documents:
        reasons.append(MANY_ADDITIONS)
    return reasons


def drift_report(
    active: ActiveModel, session: Session, rule: RetrainRule | None = None
) -> DriftReport:
    """The drift of the active version (``active``, as the service serves it, additions
    appended): what the admin page and ``python -m core models drift`` show."""
    rule = rule or RetrainRule()
    engine = active.engine
    fits = additions_fit(engine, addition_dates(session))
    training = engine.base_documents
    additions = len(engine.documents) - training
    reasons = judge(training, additions, fits, rule)
    return DriftReport(
        version=active.version.name,
        training_documents=training,
        additions=additions,
        taken_down=len(active.taken_down),
        measured=len(fits),
        bad_fit_share=bad_fit_share(fits),
        reference=reference_summary(engine),
        batches=batches(fits, rule.batch),
        fits=fits,
        rule=rule,
        retrain_due=bool(reasons),
        reasons=reasons,
    )


def reference_summary(engine: SearchEngine) -> dict[str, dict[str, float]]:
    """Per query kind: how many reference documents, their median perplexity and the perplexity
    beyond which a document fits badly (the reference's 1 - ``WEAK_SHARE`` quantile)."""
    summary = {}
    for kind in KINDS:
        values = engine.fit_reference.perplexities.get(kind)
        values = values[np.isfinite(values)] if values is not None else np.empty(0)
        if len(values):
            summary[kind] = {
                "documents": len(values),
                "median_perplexity": round(float(np.median(values)), 3),
                "bad_fit_above": round(float(np.quantile(values, 1 - WEAK_SHARE)), 3),
            }
    return summary


def batches(fits: Sequence[AdditionFit], size: int) -> list[FitBatch]:
    """``fits`` in consecutive batches of ``size`` (the last may be smaller)."""
    found = []
    for start in range(0, len(fits), size):
        part = fits[start : start + size]
        kinds: dict[str, list[float]] = {}
        for one in part:
            kinds.setdefault(one.fit.kind, []).append(one.fit.perplexity)
        found.append(
            FitBatch(
                first_added=part[0].added_at,
                last_added=part[-1].added_at,
                additions=len(part),
                bad_fit_share=float(np.mean([one.fit.weak for one in part])),
                median_perplexity={k: float(np.median(v)) for k, v in kinds.items()},
            )
        )
    return found


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None

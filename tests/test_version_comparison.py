"""The figures that set a version beside the active one, on hand-made inputs (the whole view,
with real versions, is in ``tests/test_staff_journeys.py``)."""

from __future__ import annotations

import numpy as np

from core.serving.model import Phi
from core.serving.version_comparison import VersionFigures, compare_versions, final_perplexity


def test_perplexity_per_modality_is_the_last_passs():
    scores = [
        {"pass": 1, "perplexity@text": 900.0, "perplexity@tag": 80.0, "sparsity_theta": 0.1},
        {"pass": 2, "perplexity@text": 700.0, "perplexity@tag": 60.0, "sparsity_theta": 0.2},
    ]
    assert final_perplexity(scores) == {"@text": 700.0, "@tag": 60.0}
    assert final_perplexity([]) == final_perplexity({}) == {}


def test_the_comparison_counts_the_active_topics_that_match():
    tokens = ["cat", "car", "sea"]
    active = {"@text": Phi(tokens, np.eye(3))}
    columns = [[0.0, 1, 0], [1, 0, 0], [0, 0.5, 0.5]]  # car, cat, half car and half sea
    candidate = {"@text": Phi(tokens, np.array(columns).T)}
    figures = VersionFigures("v0001", 3, {"@text": 5.0}, {"en": 0.5, "ru": 0.4}, 2)
    other = VersionFigures("v0002", 3, {"@text": 4.0, "@tag": 2.0}, {"en": 0.6, "ru": 0.4}, 2)

    found = compare_versions(figures, other, active, candidate)

    assert found.matched_topics == 2  # cat and car; sea is half of a topic there
    assert found.modalities == ["@tag", "@text"]

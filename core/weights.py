"""Modality weights: one rule for every door that takes one (a model's parameters, query
inference, the live weights in the metadata database, the admin pages and the command line)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def validate_weights(weights: Mapping[str, float]) -> None:
    """Modality names start with '@'; weights are finite and >= 0 (0 switches one off)."""
    for name, weight in weights.items():
        if not name.startswith("@") or len(name) < 2:
            raise ValueError(f"modality names start with '@', got {name!r}")
        if isinstance(weight, bool) or not isinstance(weight, int | float | np.number):
            raise ValueError(f"weight of {name} must be a number, got {weight!r}")
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"weight of {name} must be a finite number >= 0, got {weight}")

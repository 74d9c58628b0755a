"""How similar the same topic is across retrains, and distinct topics within one version: the
figures behind ``core.serving.topic_matching.MATCH_THRESHOLD``.

    .venv/bin/python scripts/measure_topic_matching.py --data-dir /tmp/topic-matching

Builds the built-in collection in ``--data-dir`` with the default parameters (unless a version is
active there already), retrains it with other seeds and with ``--fewer-topics`` topics (new
versions, not activated), then prints for each version the percentiles of every topic's
similarity to its most similar *other* topic of the same version (distinct topics: the null), and
for each retrain the similarities of the topics paired one to one as a histogram, and how many
old topics match (``match_topics``). It takes about five minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")  # BigARTM trains here
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from scipy.optimize import linear_sum_assignment

import core.building.artm_loader  # noqa: F401  (BigARTM before the backbone loads TensorFlow)
from core.building import pipeline
from core.serving.topic_matching import MATCH_THRESHOLD, match_topics, topic_similarity
from core.serving.version_files import VersionFiles
from core.settings import BUILTIN_COLLECTION, Settings
from core.storage import database, store

PERCENTILES = (50, 90, 95, 99)
BINS = np.linspace(0.0, 1.0, 11)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--fewer-topics", type=int, default=100)
    args = parser.parse_args()

    settings = Settings(data_dir=args.data_dir, collection=BUILTIN_COLLECTION)
    sessions = database.open_database(settings.database_url)
    with sessions() as session:
        active = store.active_version(session)
    if active is None:
        report = pipeline.build(settings)
        print(f"built {report.version_name}: {report.num_documents} documents")
        with sessions() as session:
            active = store.active_version(session)
    retrains = [{"seed": seed} for seed in args.seeds] + [{"num_topics": args.fewer_topics}]
    made = []
    for changes in retrains:
        report = pipeline.retrain_version(settings, active.name, changes)
        print(f"retrained {active.name} with {changes}: {report.version_name}")
        made.append((changes, report.version_name))

    def phi(name: str):
        with sessions() as session:
            directory = store.get_version(session, name).artifact_dir
        return VersionFiles(Path(directory)).read_model().phi

    base = phi(active.name)
    for name in [active.name, *(version for _, version in made)]:
        within = topic_similarity(phi(name), phi(name))
        np.fill_diagonal(within, -np.inf)
        nearest = within.max(axis=1)
        figures = ", ".join(f"p{p} {np.percentile(nearest, p):.2f}" for p in PERCENTILES)
        print(f"{name}: each topic's most similar other topic of {name}: {figures}")
    print(f"histogram bins: {', '.join(f'{edge:.1f}' for edge in BINS)}")
    for changes, name in made:
        similarity = topic_similarity(base, phi(name))
        counts, _ = np.histogram(similarity[linear_sum_assignment(similarity, maximize=True)], BINS)
        matches = match_topics(similarity, MATCH_THRESHOLD)
        matched = sum(match.matched for match in matches)
        print(
            f"{active.name} -> {name} {changes}: paired similarity histogram {counts.tolist()}; "
            f"{matched} of {len(matches)} old topics match at >= {MATCH_THRESHOLD}"
        )


if __name__ == "__main__":
    main()

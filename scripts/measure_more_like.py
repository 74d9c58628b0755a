""" "More like this" on the benchmark's validation split, to choose its ranking without seeing the
test split: a model trained on the training split, the validation documents indexed into it, and
every one of them asked as "more like this" by topic vectors and by the default ranking
(``core.measurement.search_checks.more_like_scores``: relevant = sharing a hashtag, mAP@10).
The test split's figures are in ``reports/eval.md`` ("Past the first five").

    TOPICSEARCH_DATA_DIR=... python scripts/measure_more_like.py --collection BENCHMARK
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import core.building.artm_loader  # noqa: F401  (BigARTM before the backbone loads TensorFlow)
from core.measurement.eval_methods import evaluate_topic_model, load_benchmark
from core.measurement.search_checks import more_like_scores
from core.reading.backbones import load_backbone
from core.reading.text import TextProcessor
from core.reading.vision import ImageVectorizer
from core.serving.model import ModelParams
from core.serving.ranking import RankingParams
from core.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collection", type=Path, required=True)
    args = parser.parse_args()
    settings = load_settings()
    processor = TextProcessor()
    vectorizer = ImageVectorizer(load_backbone(settings), settings.cache_dir)
    bench = load_benchmark(args.collection, processor, vectorizer)
    with tempfile.TemporaryDirectory() as workdir:
        scores = evaluate_topic_model(
            bench,
            bench.splits["train"],
            bench.splits["validation"],
            ModelParams(),
            Path(workdir) / "model",
            processor,
            vectorizer,
            rankings={"default": RankingParams()},
            test_extras=lambda engine: {"more_like": more_like_scores(engine)},
        )
    print(json.dumps(scores["more_like"], indent=2))


if __name__ == "__main__":
    main()

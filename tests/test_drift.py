"""When to retrain (issue 22, item 4): given a small real build (``deployment``: the built-in
collection's first 120 documents, farm and world animals, monuments, birds; 10 topics), when
documents are added, then the drift report counts them, measures how they fit the model against
the fit notice's reference, and says whether a retrain is due, and why."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from admin.charts import LEAST_TIME_SPAN, TIME_FORMAT, drift_chart
from core.building.additions import add_documents
from core.measurement.drift_bench import DriftBenchOptions, drift_bench_and_report
from core.reading.backbones import load_backbone
from core.reading.vision import ImageVectorizer
from core.serving.drift import BAD_FIT, MANY_ADDITIONS, RetrainRule, drift_report
from core.serving.service import Service
from core.settings import REPO_ROOT, Settings
from core.storage import collection_changes, database
from tests.conftest import builtin_rows, copy_collection
from tests.test_eval import small_benchmark

LIKE_THE_COLLECTION = range(120, 160)  # fish, insects: animals, as the build's documents are
NEVER_SHOWN = range(230, 360)  # clothes, food, hobbies, household: nothing the build shows


def report_of(settings: Settings, rule: RetrainRule | None = None):
    service = Service(settings)
    active = service.active()
    with service.sessions() as session:
        return drift_report(active, session, rule)


def add_rows(settings: Settings, numbers: range, folder: Path) -> None:
    rows = [builtin_rows()[number] for number in numbers]
    assert add_documents(settings, copy_collection(rows, folder)).added


def test_with_no_additions_no_retrain_is_due(deployment):
    report = report_of(deployment)

    assert report.training_documents == 120 and report.additions == 0
    assert report.bad_fit_share is None and report.batches == []
    assert not report.retrain_due and report.reasons == []
    assert set(report.reference) >= {"words+photo", "photo"}


def test_additions_like_the_training_documents_count_against_the_share_of_training(
    deployment, tmp_path
):
    add_rows(deployment, LIKE_THE_COLLECTION[:30], tmp_path / "like")
    with database.open_database(deployment.database_url)() as session:
        taken = builtin_rows()[LIKE_THE_COLLECTION[0]]["id"]
        collection_changes.take_down(session, deployment, taken, "ada", "a duplicate")

    below = report_of(deployment, RetrainRule(max_added_share=0.5, min_additions=10))
    above = report_of(deployment, RetrainRule(max_added_share=0.2, min_additions=10))

    assert below.training_documents == 120 and below.additions == 29 and below.taken_down == 1
    assert below.measured == 29 and below.bad_fit_share <= below.rule.max_bad_fit_share
    assert not below.retrain_due and below.reasons == []
    assert above.retrain_due and above.reasons == [MANY_ADDITIONS]
    assert "29 additions are 24% of the 120 training documents" in above.explain(MANY_ADDITIONS)

    # The versions page's chart: each bad-fit line's label on its line (a log axis), so the
    # axis spans the perplexities, not 10^(a perplexity).
    chart = drift_chart(below)
    drawn = {one.fit.kind for one in below.fits} & set(below.reference)
    lines = {below.reference[kind]["bad_fit_above"] for kind in drawn}
    assert lines and {line.y0 for line in chart.layout.shapes} == lines
    assert {round(label.y, 9) for label in chart.layout.annotations} == {
        round(math.log10(line), 9) for line in lines
    }
    # Additions of one batch land milliseconds apart: the time axis still spans an hour around
    # them, labelled to the minute, not in milliseconds.
    start, end = (datetime.fromisoformat(str(end)) for end in chart.layout.xaxis.range)
    added = [one.added_at for one in below.fits]
    assert end - start == LEAST_TIME_SPAN and start <= min(added) <= max(added) <= end
    assert chart.layout.xaxis.tickformat == TIME_FORMAT


def test_many_additions_of_things_the_collection_never_shows_make_a_retrain_due(
    deployment, tmp_path
):
    add_rows(deployment, NEVER_SHOWN[:60], tmp_path / "never")

    report = report_of(deployment, RetrainRule(max_added_share=1.0))

    assert report.additions == report.measured == 60
    assert report.bad_fit_share > 0.5
    assert report.retrain_due and report.reasons == [BAD_FIT]
    assert "additions fit the model badly" in report.explain(BAD_FIT)
    assert [batch.additions for batch in report.batches] == [50, 10]
    assert report.batches[0].first_added <= report.batches[1].last_added
    words_and_photo = report.reference["words+photo"]
    assert words_and_photo["bad_fit_above"] > words_and_photo["median_perplexity"]
    assert report.batches[0].median_perplexity["words+photo"] > words_and_photo["median_perplexity"]


def test_the_command_line_gives_the_report_as_json_and_as_text(deployment, tmp_path):
    add_rows(deployment, NEVER_SHOWN[:5], tmp_path / "few")
    env = {**os.environ, "TOPICSEARCH_DATA_DIR": str(deployment.data_dir)}
    env["TOPICSEARCH_DATABASE_URL"] = deployment.database_url

    def run(*flags: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "core", "models", "drift", *flags],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    found = json.loads(run("--json"))
    text = run()

    assert found["training_documents"] == 120 and found["additions"] == 5
    assert set(found) >= {
        "version",
        "taken_down",
        "added_share",
        "bad_fit_share",
        "reference",
        "batches",
        "additions_fit",
        "rule",
        "retrain_due",
        "reasons",
    }
    assert len(found["additions_fit"]) == 5 and found["batches"][0]["additions"] == 5
    assert found["retrain_due"] is False  # 5 additions: too few to judge their fit
    assert "no retrain is due" in text and "training documents 120; additions 5" in text


@pytest.mark.slow
def test_bench_drift_sets_added_beside_retrained_on_the_curve_and_the_test_split(
    tmp_path, vision_cache
):
    # given a benchmark cut from the built-in collection (its animals and food are what the
    # "never shown" side leaves out of training)
    collection = small_benchmark(builtin_rows()[::2], tmp_path / "collection")
    vectorizer = ImageVectorizer(load_backbone(Settings()), vision_cache)
    options = DriftBenchOptions(collection, tmp_path / "work", fractions=(0.25, 0.5))
    # when the measurement runs
    report = drift_bench_and_report(
        options, vectorizer, tmp_path / "reports", "python -m core bench-drift", lambda _: None
    )
    # then both sides of the curve and the test split set added beside retrained
    results = json.loads((tmp_path / "reports" / "drift.json").read_text())
    assert set(results["curve"]) == {"like the collection", "never shown"}
    points = [*results["curve"]["like the collection"]["points"], results["test_split"]]
    assert [point["added_share"] for point in points[:2]] == pytest.approx([0.25, 0.5], abs=0.03)
    for point in points:
        assert 0 <= point["bad_fit_share"] <= 1 and point["measured"] <= point["additions"]
        for figure, gap in point["gap"].items():
            assert gap == pytest.approx(point["retrained"][figure] - point["added"][figure])
    assert "## Added vs retrained on the test split" in report.read_text()

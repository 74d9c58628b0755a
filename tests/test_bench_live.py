"""``python -m core bench-live`` on tiny inputs: the report has every row (no timings checked;
the figures come from the command's full run, reports/live.md)."""

from __future__ import annotations

import json
from pathlib import Path

from core.building.priority import BACKGROUND_NICENESS
from core.cli import main
from core.measurement import live_bench
from tests.conftest import builtin_rows, copy_collection


def test_bench_live_writes_every_figure(tmp_path: Path, vision_cache: Path, monkeypatch) -> None:
    # the benchmark adds at background priority; the test process keeps its own
    monkeypatch.setattr(live_bench, "lower_to_background", lambda: BACKGROUND_NICENESS)
    rows = builtin_rows()
    base = copy_collection(rows[:60], tmp_path / "base")
    additions = copy_collection(rows[60:80], tmp_path / "additions")
    reports = tmp_path / "reports"
    status = main(
        [
            "bench-live",
            "--collection", str(base),
            "--additions", str(additions),
            "--cache-dir", str(vision_cache),
            "--workdir", str(tmp_path / "work"),
            "--reports", str(reports),
            "--latency-adds", "2",
            "--batch", "5",
            "--quiet-seconds", "1",
        ]
    )  # fmt: skip

    assert status == 0
    results = json.loads((reports / "live.json").read_text())
    assert results["machine"]["cores"] >= 1 and results["command"].startswith("python -m core")
    latency = results["add_latency"]
    assert latency["documents"] == 2 and latency["add_call"]["queries"] == 2
    found = 2 - len(latency["refused"])
    assert latency["searchable_on_other_replica"]["queries"] == found
    assert latency["finding_search"]["queries"] == found
    assert results["batch"]["documents"] == 5 and results["batch"]["documents_per_s"] > 0
    assert set(results["batch"]["stages_s"]) == {"screen_and_ingest", "infer_thetas", "commit"}
    alone = results["batch_alone"]  # the same add with nobody searching
    assert alone["documents"] == 5 and set(alone["stages_s"]) == set(results["batch"]["stages_s"])
    assert results["machine"]["adding_niceness"] == BACKGROUND_NICENESS
    search = results["search"]
    for phase in ("without_add", "during_batch"):
        assert search[phase]["all"]["queries"] > 0 and "p95_ms" in search[phase]["all"]
    assert search["p95_ratio"] > 0
    report = (reports / "live.md").read_text()
    for row in (
        "| add call returns |",
        "| searchable on the other replica |",
        "| of which the replica's search that found it |",
        "documents/s",
        "with nobody searching",
        "| stage | s, while searched | s, alone |",
        "| no add | all |",
        "| during the batch | all |",
        "p95 during the batch / p95 without",
        "drift figures",
    ):
        assert row in report

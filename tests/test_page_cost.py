"""The web page cost section of reports/bench.md: written by scripts/measure_app.py --report and
kept when ``python -m core bench`` rewrites the report."""

from __future__ import annotations

import json

from core.measurement.page_cost import TITLE, record_page_cost, with_page_cost_section

FIGURES = {
    "server_start_s": 4.1,
    "first_load_s": 6.3,
    "first_query_ms": 900,
    "first_query_server_ms": 12.0,
    "warm_queries": 20,
    "warm_query_ms_p50": 250,
    "warm_query_ms_max": 400,
    "warm_query_server_ms_p50": 3.0,
    "warm_page_server_cpu_ms": 64,
    "load_average_1min": 1.5,
}
BENCH = "# Performance\n\n## Throughput\n\n| a | b |\n\n## Query latency (ms)\n\nrows\n"


def test_recording_adds_the_section_once_and_replaces_it_on_the_next_run(tmp_path):
    (tmp_path / "bench.md").write_text(BENCH)
    record_page_cost(tmp_path, FIGURES, "measure --report")
    record_page_cost(tmp_path, {**FIGURES, "warm_page_server_cpu_ms": 91}, "measure --report")

    report = (tmp_path / "bench.md").read_text()
    assert report.startswith(BENCH)
    assert report.count(TITLE) == 1
    assert "| server CPU per warm search page | 91 ms (misses the target of 80 ms) |" in report
    assert json.loads((tmp_path / "page_cost.json").read_text())["warm_page_server_cpu_ms"] == 91


def test_a_rewritten_report_keeps_the_recorded_section_in_place(tmp_path):
    record_page_cost(tmp_path, FIGURES, "measure --report")
    with_section = with_page_cost_section(BENCH, tmp_path)
    moved = with_section.replace("## Query latency", "## Other") + "\n## Last\n\ntext\n"

    rewritten = with_page_cost_section(moved, tmp_path)

    assert rewritten == moved
    assert "64 ms (meets the target of 80 ms)" in rewritten


def test_without_a_measurement_the_section_says_how_to_make_one(tmp_path):
    assert "scripts/measure_app.py --report" in with_page_cost_section(BENCH, tmp_path)

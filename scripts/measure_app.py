"""How fast the public app feels: first load and warm text queries, in a real browser.

    .venv/bin/python scripts/measure_app.py [--data-dir var] [--queries 20]

Starts a fresh app server over the data directory (its active model must exist: run
`python -m core build` first), opens it in headless Chromium and reports:
- server start: process start until the health endpoint answers;
- first load: navigation until the search form is on screen (this loads the model);
- first query and warm queries: click on Search until the results are rendered and the app is
  idle, with the server-side search latency the page reports next to it;
- server CPU per warm search page: the server process's CPU time (all threads, from /proc) over
  the warm queries, divided by their number.

With ``--report`` the figures are also written to ``reports/page_cost.json`` and to their section
of ``reports/bench.md`` (see ``core/page_cost.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.page_cost import record_page_cost
from core.settings import REPO_ROOT, load_settings
from tests.browser import chromium, search, served_app

COMMAND = ".venv/bin/python scripts/measure_app.py --queries {queries} --report"
QUERIES = ["цветы", "horse", "собака", "red apple", "музыка", "bird", "машина", "рыба", "fruit"]


def measure(data_dir: Path, warm_queries: int) -> dict:
    started = time.perf_counter()
    with served_app(data_dir) as app, chromium() as browser:
        server_start = time.perf_counter() - started
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        page.goto(app.url)
        page.get_by_label("Words").wait_for(timeout=120_000)
        first_load = time.perf_counter() - started
        first_query, first_server = _timed_search(page, QUERIES[0])
        cpu_before = app.cpu_seconds()
        warm = [_timed_search(page, QUERIES[n % len(QUERIES)]) for n in range(1, warm_queries + 1)]
        server_cpu = app.cpu_seconds() - cpu_before
    browser_ms = sorted(seconds * 1000 for seconds, _ in warm)
    return {
        "server_start_s": round(server_start, 2),
        "first_load_s": round(first_load, 2),
        "first_query_ms": round(first_query * 1000),
        "first_query_server_ms": first_server,
        "warm_queries": len(warm),
        "warm_query_ms_p50": round(statistics.median(browser_ms)),
        "warm_query_ms_max": round(browser_ms[-1]),
        "warm_query_server_ms_p50": statistics.median(server for _, server in warm),
        "warm_page_server_cpu_ms": round(server_cpu * 1000 / len(warm)),
        "load_average_1min": round(os.getloadavg()[0], 1),  # other work on the machine
    }


def _timed_search(page, text: str) -> tuple[float, float]:
    started = time.perf_counter()
    caption = search(page, text)
    elapsed = time.perf_counter() - started
    return elapsed, float(re.search(r"(\d+) ms", caption).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=load_settings().data_dir)
    parser.add_argument("--queries", type=int, default=20, help="warm queries to time")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--report",
        action="store_true",
        help="also record the figures in reports/page_cost.json and reports/bench.md",
    )
    args = parser.parse_args()
    figures = measure(args.data_dir, args.queries)
    if args.report:
        record_page_cost(REPO_ROOT / "reports", figures, COMMAND.format(queries=args.queries))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print("| measure | value |\n|---|---|")
    for name, value in figures.items():
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()

"""What a warm search page costs the web server, as ``reports/bench.md`` shows it.

The figures need a real ``streamlit run`` server and a browser, so they come from their own
command, ``scripts/measure_app.py --report``, which keeps the last run in
``reports/page_cost.json`` and writes this section into ``reports/bench.md``; ``python -m core
bench`` keeps the section when it rewrites the rest of the report.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

TITLE = "## Web server cost per search page"
TARGET_CPU_MS = 80
RECORD = "page_cost.json"


def record_page_cost(reports: Path, figures: dict, command: str) -> None:
    """Keep ``figures`` (from ``scripts/measure_app.py``) and show them in ``bench.md``."""
    reports.mkdir(parents=True, exist_ok=True)
    record = {**figures, "command": command, "measured_at": datetime.now(UTC).isoformat()}
    (reports / RECORD).write_text(json.dumps(record, indent=1) + "\n")
    bench = reports / "bench.md"
    if bench.exists():
        bench.write_text(with_page_cost_section(bench.read_text(), reports))


def with_page_cost_section(report: str, reports: Path) -> str:
    """``report`` with its page-cost section replaced by the recorded figures (or added last)."""
    section = page_cost_section(reports)
    start = report.find(TITLE)
    if start == -1:
        return report.rstrip("\n") + "\n\n" + section
    end = report.find("\n## ", start + len(TITLE))
    after = "" if end == -1 else "\n" + report[end + 1 :]
    return report[:start] + section + after


def page_cost_section(reports: Path) -> str:
    path = reports / RECORD
    if not path.exists():
        return (
            f"{TITLE}\n\nNot measured yet: run `.venv/bin/python scripts/measure_app.py "
            "--report` (needs a built model and Chromium).\n"
        )
    record = json.loads(path.read_text())
    cpu = record["warm_page_server_cpu_ms"]
    verdict = "meets" if cpu <= TARGET_CPU_MS else "misses"
    return "\n".join(
        [
            TITLE,
            "",
            f"Measured by `{record['command']}` at {record['measured_at'][:16]} UTC: a fresh "
            "`streamlit run` server and headless Chromium, "
            f"{record['warm_queries']} warm text searches one after another. Server CPU is the "
            "server process's user + system time over those searches, per search page. Two "
            "shared cores: the figures move with the machine's load.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| server CPU per warm search page | {cpu} ms ({verdict} the target of "
            f"{TARGET_CPU_MS} ms) |",
            f"| warm search page in the browser, p50 | {record['warm_query_ms_p50']} ms |",
            f"| warm search page in the browser, max | {record['warm_query_ms_max']} ms |",
            f"| search in the service, p50 | {record['warm_query_server_ms_p50']} ms |",
            f"| first load of the app | {record['first_load_s']} s |",
            f"| server start until healthy | {record['server_start_s']} s |",
            f"| machine load average (1 min) at the end | {record['load_average_1min']} |",
            "",
        ]
    )

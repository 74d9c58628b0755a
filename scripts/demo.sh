#!/usr/bin/env bash
# One command for a fresh machine: install, build the built-in collection's model (once), then
# serve the app and run one job worker beside it; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.txt
.venv/bin/python -m core build --if-missing

.venv/bin/python -m core worker &
worker=$!
.venv/bin/python -m streamlit run streamlit_app/app.py \
  --server.headless true --browser.gatherUsageStats false "$@" &
app=$!

stop_both() {
  trap - INT TERM EXIT
  kill -TERM "$worker" "$app" 2>/dev/null || true
  wait "$worker" "$app" 2>/dev/null || true
}
trap stop_both INT TERM EXIT
# Whichever stops first (Ctrl-C, or a crash) takes the other one with it.
wait -n "$worker" "$app" || true

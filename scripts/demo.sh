#!/usr/bin/env bash
# One command for a fresh machine: install, build the built-in collection's model (once), serve.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.txt
.venv/bin/python -m core build --if-missing
exec .venv/bin/python -m streamlit run streamlit_app/app.py \
  --server.headless true --browser.gatherUsageStats false "$@"

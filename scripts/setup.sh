#!/usr/bin/env bash
# Creates .venv with Python 3.11 (BigARTM has no wheels for newer Pythons) and installs the
# pinned dependencies. Safe to rerun: it only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-}
if [[ -z "$PYTHON" ]]; then
  for candidate in python3.11 python3 python; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON=$candidate
      break
    fi
  done
fi
if [[ -z "$PYTHON" ]]; then
  echo "Python 3.11 is required (BigARTM ships wheels for CPython <= 3.11 only)." >&2
  exit 1
fi

if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "${1:-requirements.txt}"

#!/usr/bin/env bash
# One command for a fresh machine: install the test tools, then run the test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-dev.txt
# The browser tests drive Debian's Chromium (Playwright cannot download its own browsers here).
if [[ ! -x /usr/bin/chromium ]]; then
  echo "Installing Chromium for the browser tests (Debian package chromium)..." >&2
  SUDO=$([[ $(id -u) -eq 0 ]] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
exec .venv/bin/python -m pytest "$@"

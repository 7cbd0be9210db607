#!/usr/bin/env bash
# Set up .venv (scripts/setup.sh) and run the whole test suite: lint, then pytest.
# Servers that tests need are started here and stopped on exit.
#
# The full run (what CI runs) also needs a Label Studio server, installed into .venv-ls on first use (about 1 GB,
# 2-3 min), and a headless Chromium for the report tests (scripts/browser.sh: apt-get as root when missing).
# --quick leaves both out: the tests marked 'live' (they use the Label Studio server) and 'browser' (headless
# Chromium) are deselected (tests/conftest.py marks them), for a first check that needs neither root nor 1 GB.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
usage: bash scripts/test.sh [--quick] [--dry-run] [--help] [PYTEST ARGS...]

Sets up .venv, then runs ruff and pytest. The full run also installs Label Studio into .venv-ls (about 1 GB,
2-3 min on first run) and starts it, and makes sure chromium and chromium-driver are installed (apt-get as
root when they are missing).

  --quick     leave out the Label Studio and headless-browser tests (pytest -m "not live and not browser"):
              no server, no root, no 1 GB download; refused under CI=true (CI runs everything)
  --dry-run   print the commands this run would execute, execute nothing
  --help      this text

TAGSCAN_TEST_QUICK=1 is --quick. Other arguments go to pytest (a later -m replaces the quick one).
EOF
}

quick=0
dry=0
case "${TAGSCAN_TEST_QUICK:-}" in 1 | true | yes) quick=1 ;; esac
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --dry-run) dry=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) break ;;
  esac
  shift
done

PROGRESS_TAG=test
# shellcheck source=scripts/progress.sh
. scripts/progress.sh

QUICK_MARKERS="not live and not browser"
if [ "$quick" = 1 ] && [ "$(printf %s "${CI:-}" | tr '[:upper:]' '[:lower:]')" = true ]; then
  say "REFUSED: --quick (or TAGSCAN_TEST_QUICK) leaves out the Label Studio and browser tests, and CI=true must"
  say "run every test; drop --quick in CI (.ci/run calls: bash scripts/test.sh)"
  exit 2
fi

pytest_cmd=(.venv/bin/python -m pytest)
[ "$quick" = 1 ] && pytest_cmd+=(-m "$QUICK_MARKERS")
pytest_cmd+=("$@")

if [ "$dry" = 1 ]; then
  # The commands in the order a real run executes them, one per line.
  echo "bash scripts/setup.sh"
  if [ "$quick" = 0 ]; then
    echo "bash scripts/browser.sh"
    echo "bash scripts/labelstudio.sh install"
    echo "bash scripts/labelstudio.sh start"
  fi
  echo ".venv/bin/ruff check ."
  words=()
  for a in "${pytest_cmd[@]}"; do
    if [[ $a =~ [^A-Za-z0-9_./=:,+-] ]]; then words+=("'${a//\'/\'\\\'\'}'"); else words+=("$a"); fi
  done
  echo "${words[*]}"
  exit 0
fi

bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false
if [ "$quick" = 0 ]; then
  # First the browser (it may need root: better to learn that before a 1 GB download), then Label Studio.
  step_start "checking for chromium and chromium-driver for the report tests (scripts/browser.sh)"
  bash scripts/browser.sh >&2 # Debian chromium + chromium-driver
  step_done
  # Label Studio in its own venv, on a free loopback port, with a throw-away data dir and token.
  bash scripts/labelstudio.sh install >&2
  TAGSCAN_LS_PORT=$(.venv/bin/python -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  export TAGSCAN_LS_PORT
  TAGSCAN_LS_DATA=$(mktemp -d)
  TAGSCAN_LS_FILES_ROOT=$(mktemp -d)
  export TAGSCAN_LS_DATA TAGSCAN_LS_FILES_ROOT
  LABEL_STUDIO_API_KEY=$(.venv/bin/python -c 'import secrets;print(secrets.token_hex(20))')
  export LABEL_STUDIO_API_KEY
  trap 'bash scripts/labelstudio.sh stop >&2 || true; rm -rf "$TAGSCAN_LS_DATA" "$TAGSCAN_LS_FILES_ROOT"' EXIT
  TAGSCAN_LS_URL=$(bash scripts/labelstudio.sh start)
  export TAGSCAN_LS_URL
fi
step_start "ruff check ."
.venv/bin/ruff check .
step_done
if [ "$quick" = 1 ]; then
  say "pytest -m \"$QUICK_MARKERS\" (about 5 min on 2 idle cores, 15 on busy ones) ..."
else
  say "pytest (about 6 min on 2 idle cores, more on busy ones) ..."
fi
rc=0
"${pytest_cmd[@]}" || rc=$?
if [ "$quick" = 1 ]; then
  say "quick run: the Label Studio (live) and headless-browser tests were left out;"
  say "run every test with: bash scripts/test.sh   (installs Label Studio, 1 GB; chromium needs root)"
fi
exit "$rc"

#!/usr/bin/env bash
# Set up .venv (scripts/setup.sh) and run the whole test suite: lint, then pytest.
# Servers that tests need are started here and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false
bash scripts/browser.sh >&2          # Debian chromium + chromium-driver for the report tests
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"

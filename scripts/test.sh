#!/usr/bin/env bash
# Set up .venv (scripts/setup.sh) and run the whole test suite: lint, then pytest.
# Servers that tests need are started here and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
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
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false
bash scripts/browser.sh >&2          # Debian chromium + chromium-driver for the report tests
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"

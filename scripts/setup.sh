#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with tagscan and its dev tools.
# torch is installed first and pinned to the CPU build of 2.13.0, so that nothing later pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
stamp=.venv/.tagscan-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q "torch==2.13.0" >&2
  .venv/bin/python -m pip install -q -e ".[dev]" >&2
  if .venv/bin/python -m pip show torchvision >/dev/null 2>&1; then
    echo "setup: torchvision got into .venv; it breaks transformers' CLIP image processor here. Remove it." >&2
    exit 1
  fi
  touch "$stamp"
fi

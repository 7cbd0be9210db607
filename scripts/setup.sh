#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with tagscan and its dev tools.
# torch is installed first and pinned to the CPU build of 2.13.0, so that nothing later pulls a CUDA build:
# PyTorch's CPU index is offered next to PyPI, and its 2.13.0+cpu wins over PyPI's CUDA 2.13.0 where it is
# reachable (a local wheel of the CPU build, as on the project's CI machine, is taken as it is).
# pip's output goes to .venv/setup.log and is shown only if something fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
stamp=.venv/.tagscan-installed
log=.venv/setup.log
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing tagscan into .venv (torch 2.13.0 CPU first); log in $log" >&2
  if ! {
    .venv/bin/python -m pip install --upgrade pip &&
    .venv/bin/python -m pip install "torch==2.13.0" --extra-index-url https://download.pytorch.org/whl/cpu \
      --retries 1 --timeout 15 &&
    .venv/bin/python -m pip install -e ".[dev,ray]"
  } >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "setup: pip failed; the full log is $log" >&2
    exit 1
  fi
  if .venv/bin/python -m pip show torchvision >/dev/null 2>&1; then
    echo "setup: torchvision got into .venv; it breaks transformers' CLIP image processor here. Remove it." >&2
    exit 1
  fi
  touch "$stamp"
fi

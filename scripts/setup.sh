#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with tagscan and its dev tools.
# torch is installed first and pinned to the CPU build of 2.13.0, so that nothing later pulls a CUDA build:
# PyTorch's CPU index is offered next to PyPI, and its 2.13.0+cpu wins over PyPI's CUDA 2.13.0 where it is
# reachable (a local wheel of the CPU build, as on the project's CI machine, is taken as it is).
# Each step prints a line when it starts and when it ends (with its seconds), and a "still working" line every
# 30 s while pip runs; pip's own output goes to .venv/setup.log and is shown only if something fails.
# A run with nothing to install says so and returns at once: the stamp .venv/.tagscan-installed holds the
# sha256 of the pyproject.toml that was installed, and only a different pyproject.toml installs again.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
usage: bash scripts/setup.sh [--force] [--dry-run] [--help]

Makes .venv (Python 3.10+) with the CPU build of torch 2.13.0, then tagscan and its dev tools (editable).
First run: about 2-3 minutes and about 2.2 GB of disk (network needed); later runs reuse .venv and return at
once unless pyproject.toml changed.

  --force     install again even when .venv is up to date
  --dry-run   say what would be done, do nothing
  --help      this text

Environment: PYTHON (default python3) makes the venv; TAGSCAN_HEARTBEAT (default 30) is the seconds between
"still working" lines.
EOF
}

force=0
dry=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --dry-run) dry=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "[setup] unknown option '$arg'; see: bash scripts/setup.sh --help" >&2
      exit 2
      ;;
  esac
done

PROGRESS_TAG=setup
# shellcheck source=scripts/progress.sh
. scripts/progress.sh

PY=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1
stamp=.venv/.tagscan-installed
log=.venv/setup.log
want=$("$PY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' pyproject.toml)

# A stamp from before the hash (an empty file, touched after the install) stands for the pyproject.toml it is
# newer than.
if [ -f "$stamp" ] && [ ! -s "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ] && [ "$dry" = 0 ]; then
  echo "$want" >"$stamp"
fi
if [ "$force" = 0 ] && [ -x .venv/bin/python ] && [ -x .venv/bin/tagscan ] && [ -f "$stamp" ] &&
  [ "$(cat "$stamp")" = "$want" ]; then
  say ".venv is up to date (pyproject.toml unchanged since its install): nothing to install"
  exit 0
fi

if [ ! -x .venv/bin/python ]; then
  why="no .venv yet"
elif [ "$force" = 1 ]; then
  why="--force"
elif [ ! -f "$stamp" ] || [ ! -x .venv/bin/tagscan ]; then
  why=".venv has no complete install"
else
  why="pyproject.toml changed since the last install"
fi
if [ "$dry" = 1 ]; then
  say "would install into .venv ($why): pip, torch 2.13.0 (CPU), tagscan with its dev tools and the Ray extra"
  exit 0
fi

t0=$SECONDS
say "installing into .venv ($why); first run: about 2-3 min and 2.2 GB; pip's log: $log"
if [ ! -x .venv/bin/python ]; then
  step_start "creating .venv with $PY ($("$PY" --version 2>&1))"
  "$PY" -m venv .venv
  step_done
fi
rm -f "$stamp"
: >"$log"

fail() {
  tail -40 "$log" >&2
  say "pip failed; the full log is $log"
  exit 1
}

step_start "upgrading pip"
with_heartbeat "$log" .venv/bin/python -m pip install --upgrade pip || fail
step_done
step_start "installing torch 2.13.0, CPU build (about 200 MB download, 1-2 min on first run)"
with_heartbeat "$log" .venv/bin/python -m pip install "torch==2.13.0" \
  --extra-index-url https://download.pytorch.org/whl/cpu --retries 1 --timeout 15 || fail
step_done
step_start "installing tagscan, its dev tools and the Ray extra (transformers, faiss, pandas, ray, ...; about 1 min)"
with_heartbeat "$log" .venv/bin/python -m pip install -e ".[dev,ray]" || fail
step_done
if .venv/bin/python -m pip show torchvision >/dev/null 2>&1; then
  say "torchvision got into .venv; it breaks transformers' CLIP image processor here. Remove it."
  exit 1
fi
echo "$want" >"$stamp"
say "ready in $((SECONDS - t0)) s: .venv/bin/tagscan"

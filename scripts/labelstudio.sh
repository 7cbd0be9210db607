#!/usr/bin/env bash
# A local Label Studio for tagscan's review loop: headless, offline, on loopback, pre-provisioned.
#
#   scripts/labelstudio.sh install   # label-studio==1.23.2 into .venv-ls (its own venv: installing it
#                                    # beside tagscan would downgrade pyarrow and python-dateutil)
#   scripts/labelstudio.sh start     # start (no-op when already running) and wait until /health is UP
#   scripts/labelstudio.sh stop      # SIGTERM and wait
#   scripts/labelstudio.sh status    # exit 0 when the server answers /health with UP
#
# Environment (all optional):
#   TAGSCAN_LS_PORT        port on 127.0.0.1 (default 8080, what review.url defaults to)
#   TAGSCAN_LS_DATA        data folder: database, media, pid file, log (default <repo>/.labelstudio)
#   TAGSCAN_LS_FILES_ROOT  LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT: the only folder under which local image
#                          storages may be attached and served (default: the repo root). Any folder under
#                          it can be exposed to every account of the server, so keep it as narrow as your
#                          images allow; tests point it at their temporary folder.
#   TAGSCAN_LS_USER / TAGSCAN_LS_PASSWORD   the pre-made account (default tagscan@localhost / tagscan-dev)
#   LABEL_STUDIO_API_KEY   the legacy token given to that account (default: a fixed development token)
#   TAGSCAN_LS_VENV        the virtual environment (default <repo>/.venv-ls)
#   TAGSCAN_LS_TIMEOUT     seconds to wait for /health (default 120)
# The account, token and document root are applied when a data folder is first created.
# Diagnostics go to stderr; 'start' prints the server URL on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

LS_VERSION=1.23.2
VENV=${TAGSCAN_LS_VENV:-$REPO/.venv-ls}
PORT=${TAGSCAN_LS_PORT:-8080}
DATA=${TAGSCAN_LS_DATA:-$REPO/.labelstudio}
FILES_ROOT=${TAGSCAN_LS_FILES_ROOT:-$REPO}
LS_USER=${TAGSCAN_LS_USER:-tagscan@localhost}
LS_PASSWORD=${TAGSCAN_LS_PASSWORD:-tagscan-dev}
TOKEN=${LABEL_STUDIO_API_KEY:-tagscan-dev-token-0123456789abcdef}
TIMEOUT=${TAGSCAN_LS_TIMEOUT:-120}
URL="http://127.0.0.1:$PORT"
PIDFILE="$DATA/labelstudio.pid"
LOG="$DATA/labelstudio.log"

PROGRESS_TAG=labelstudio
# shellcheck source=scripts/progress.sh
. "$REPO/scripts/progress.sh"   # with_heartbeat; its say() is replaced by the one below
say() { echo "labelstudio: $*" >&2; }

health() {
  # exit 0 when GET /health on the given port answers {"status": "UP"}
  local body
  if command -v curl >/dev/null; then
    body=$(curl -fsS --max-time 3 "http://127.0.0.1:$1/health" 2>/dev/null) || return 1
  else
    body=$("${PYTHON:-python3}" -c "import sys, urllib.request as u; print(u.urlopen(sys.argv[1], timeout=3).read().decode())" \
      "http://127.0.0.1:$1/health" 2>/dev/null) || return 1
  fi
  [[ $body == *'"UP"'* ]]
}

running_pid() {
  # the pid from the pid file when that process is alive, else nothing (and exit 1)
  [[ -f $PIDFILE ]] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

port_busy() {
  # exit 0 when something accepts connections on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

listens_on() {
  # exit 0 when process $1 (or one of its children) has a listening socket on port $2
  local pids p inode
  pids="$1 $(pgrep -P "$1" 2>/dev/null | tr '\n' ' ')"
  local hexport
  hexport=$(printf ':%04X' "$2")
  for inode in $(awk -v hp="$hexport" '$4 == "0A" && index($2, hp) == length($2) - 4 {print $10}' /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    for p in $pids; do
      if ls -l "/proc/$p/fd" 2>/dev/null | grep -q "socket:\[$inode\]"; then
        return 0
      fi
    done
  done
  return 1
}

cmd_install() {
  if [[ -x $VENV/bin/label-studio ]] && "$VENV/bin/python" -c "
import importlib.metadata as m, sys
sys.exit(m.version('label-studio') != '$LS_VERSION')" 2>/dev/null; then
    say "label-studio $LS_VERSION already installed in $VENV"
    return 0
  fi
  local t0=$SECONDS
  say "installing label-studio $LS_VERSION into $VENV (first run: about 2-3 min and 1 GB; log $VENV/install.log) ..."
  [[ -x $VENV/bin/python ]] || "${PYTHON:-python3}" -m venv "$VENV"
  : >"$VENV/install.log"
  if ! PIP_DISABLE_PIP_VERSION_CHECK=1 with_heartbeat "$VENV/install.log" \
      "$VENV/bin/python" -m pip install "label-studio==$LS_VERSION"; then
    tail -40 "$VENV/install.log" >&2
    say "pip failed; the full log is $VENV/install.log"
    return 1
  fi
  say "installed label-studio $LS_VERSION in $((SECONDS - t0)) s"
}

cmd_status() {
  if health "$PORT"; then
    say "up at $URL"
    return 0
  fi
  say "not answering at $URL"
  return 1
}

wait_healthy() {
  # wait until /health answers UP while process $1 lives; on failure print the log tail, stop it, exit 1
  local pid=$1 waited=0
  until health "$PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "label-studio exited during start-up; last lines of $LOG:"
      tail -n 40 "$LOG" >&2
      rm -f "$PIDFILE"
      return 1
    fi
    if ((waited >= TIMEOUT)); then
      say "no healthy answer from $URL/health after ${TIMEOUT}s; last lines of $LOG:"
      tail -n 40 "$LOG" >&2
      stop_pid "$pid"
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  if ! listens_on "$pid" "$PORT"; then
    say "something answers on port $PORT but it is not label-studio pid $pid (from $PIDFILE); stopping that pid"
    tail -n 20 "$LOG" >&2
    stop_pid "$pid"
    return 1
  fi
  WAITED=$waited
}

cmd_start() {
  local pid
  if pid=$(running_pid); then
    # already started (perhaps still starting, by a concurrent 'start'): wait for it instead of starting twice
    wait_healthy "$pid" || return 1
    say "already running at $URL (pid $pid)"
    echo "$URL"
    return 0
  fi
  if [[ ! -x $VENV/bin/label-studio ]]; then
    say "label-studio is not installed in $VENV; run: scripts/labelstudio.sh install"
    return 1
  fi
  if port_busy "$PORT"; then
    say "port $PORT on 127.0.0.1 is taken by another process (Label Studio would silently move to another port);"
    say "stop that process or set TAGSCAN_LS_PORT to a free port"
    return 1
  fi
  mkdir -p "$DATA" "$DATA/home"
  if [[ ! -d $FILES_ROOT ]]; then
    say "TAGSCAN_LS_FILES_ROOT=$FILES_ROOT is not a folder"
    return 1
  fi
  FILES_ROOT=$(cd "$FILES_ROOT" && pwd -P)
  say "starting label-studio $LS_VERSION at $URL (data $DATA, local files under $FILES_ROOT)"
  # A clean environment: no inherited PORT/HOST/USERNAME/PASSWORD (label-studio reads them), nothing that
  # reaches the network, the account and legacy token applied when the data folder is created.
  env -u PORT -u HOST -u USERNAME -u PASSWORD -u LABEL_STUDIO_HOST -u LABEL_STUDIO_PORT \
    HOME="$DATA/home" \
    LABEL_STUDIO_BASE_DATA_DIR="$DATA" \
    LABEL_STUDIO_USERNAME="$LS_USER" \
    LABEL_STUDIO_PASSWORD="$LS_PASSWORD" \
    LABEL_STUDIO_USER_TOKEN="$TOKEN" \
    LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true \
    LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true \
    LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="$FILES_ROOT" \
    LABEL_STUDIO_LATEST_VERSION_CHECK=false \
    LABEL_STUDIO_COLLECT_ANALYTICS=false \
    SENTRY_DSN= FRONTEND_SENTRY_DSN= \
    setsid "$VENV/bin/label-studio" start --no-browser --internal-host 127.0.0.1 --port "$PORT" \
    --data-dir "$DATA" >"$LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  wait_healthy "$pid" || return 1
  say "up at $URL after ${WAITED}s (pid $pid, log $LOG)"
  echo "$URL"
}

stop_pid() {
  # SIGTERM the process group led by $1 (setsid made it a leader), wait up to 20 s, then SIGKILL
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "pid $pid ignored SIGTERM for 20s; sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

cmd_stop() {
  local pid
  if ! pid=$(running_pid); then
    say "not running (no live pid in $PIDFILE)"
    rm -f "$PIDFILE"
    return 0
  fi
  stop_pid "$pid"
  say "stopped (pid $pid)"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: scripts/labelstudio.sh {install|start|stop|status}" >&2
    exit 2
    ;;
esac

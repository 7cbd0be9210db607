# Shared by scripts/setup.sh, scripts/test.sh and scripts/labelstudio.sh (sourced, never run): progress lines
# for the long steps, so that a first run never sits silent for minutes.
#
#   step_start "installing X (about 2 min)"    prints "[tag] installing X (about 2 min) ..." on stderr
#   step_done                                  prints "[tag] done in 42 s"
#   with_heartbeat LOG cmd args...             runs cmd with its output appended to LOG and, every
#                                              $TAGSCAN_HEARTBEAT seconds (default 30) while it runs, prints
#                                              "[tag] still working (60 s): <pip's latest Collecting/Downloading
#                                              line>"; returns cmd's exit code
# The caller sets PROGRESS_TAG (e.g. "setup") before using them.

PROGRESS_TAG=${PROGRESS_TAG:-tagscan}
_step_started=$SECONDS

say() { echo "[$PROGRESS_TAG] $*" >&2; }

step_start() {
  _step_started=$SECONDS
  say "$* ..."
}

step_done() {
  say "done in $((SECONDS - _step_started)) s"
}

with_heartbeat() {
  local log=$1 every=${TAGSCAN_HEARTBEAT:-30}
  shift
  local start=$SECONDS next pid last rc=0
  "$@" >>"$log" 2>&1 &
  pid=$!
  next=$((SECONDS + every))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS >= next)) && kill -0 "$pid" 2>/dev/null; then
      # The newest thing pip said it was doing (it prints one line per package, no bars when not on a terminal).
      last=$(grep -E '^ *(Collecting|Downloading|Installing|Building|Obtaining|Preparing)' "$log" 2>/dev/null |
        tail -n 1 | sed -E 's/^ +//' | cut -c1-90 || true)
      say "still working ($((SECONDS - start)) s)${last:+: $last}"
      next=$((SECONDS + every))
    fi
  done
  wait "$pid" || rc=$?
  return "$rc"
}

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

_pip_line() {
  # One of pip's lines, short: "Downloading https://.../torch-2.13.0%2Bcpu-cp311-...whl (200 MB)" becomes
  # "Downloading torch-2.13.0%2Bcpu (200 MB)", "Installing collected packages: a, b, c" becomes
  # "Installing 3 collected packages".
  sed -E -e 's/^ +//' -e 's#^(Downloading )[^ ]*/#\1#' -e 's/-(cp|py)[0-9][^ ]*\.(whl|tar\.gz|zip)//' |
    awk '/^Installing collected packages:/ { sub(/^[^:]*: */, ""); print "Installing " split($0, a, ", ") " collected packages"; next } { print }' |
    cut -c1-100
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
        tail -n 1 | _pip_line || true)
      say "still working ($((SECONDS - start)) s)${last:+: $last}"
      next=$((SECONDS + every))
    fi
  done
  wait "$pid" || rc=$?
  return "$rc"
}

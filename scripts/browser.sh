#!/usr/bin/env bash
# Make sure a headless browser for the HTML report test is present: Debian's chromium and
# chromium-driver. Idempotent: when both are on PATH it installs nothing (and needs no root); when one is
# missing it says so, then installs them with apt-get as root (or with sudo when that needs no password),
# about 80 MB to download and 400 MB on disk; a user who can do neither gets one line naming the command to run.
# Prints where the two binaries are, one "name=path" line each, on stdout; diagnostics on stderr.
set -euo pipefail

find_bin() {
  local name
  for name in "$@"; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

browser=$(find_bin chromium chromium-browser || true)
driver=$(find_bin chromedriver chromium-driver || true)

if [ -z "$browser" ] || [ -z "$driver" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "browser.sh: the report tests need chromium and chromium-driver, which are missing, and installing" \
         "them needs root: run 'sudo apt-get install chromium chromium-driver' (or, without the browser and" \
         "Label Studio tests: bash scripts/test.sh --quick)" >&2
    exit 1
  fi
  t0=$SECONDS
  echo "browser.sh: chromium and chromium-driver are missing; installing them with apt-get" \
       "as root${as_root:+ (sudo)} (about 80 MB to download, 400 MB on disk) ..." >&2
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "browser.sh: no apt-get here; install chromium and its chromedriver with the system's package manager" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when they are absent (a fresh container) or the install fails.
  if ! compgen -G "/var/lib/apt/lists/*_Packages" >/dev/null; then
    "${as_root[@]}" apt-get update -qq >&2
  fi
  if ! "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1; then
    "${as_root[@]}" apt-get update -qq >&2
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  fi
  browser=$(find_bin chromium chromium-browser)
  driver=$(find_bin chromedriver chromium-driver)
  echo "browser.sh: installed chromium and chromium-driver in $((SECONDS - t0)) s" >&2
fi

echo "chromium=$browser"
echo "chromedriver=$driver"

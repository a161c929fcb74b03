#!/usr/bin/env bash
# install-chromium.sh - make Debian's Chromium (/usr/bin/chromium) available for the
# dashboard's browser tests (tests/serve/test_dashboard.py drive it with Playwright).
#
# Playwright's own `playwright install` downloads browsers from a CDN; the tests never use
# it: they launch this system Chromium through `executable_path`.
#
# Idempotent: if the browser is already there it prints one line and exits 0 without
# touching apt.
#
# Environment overrides:
#   CHROMIUM   path of the browser to check for (default: /usr/bin/chromium)
#
# Must run as root when it has to install (it runs apt-get).
set -euo pipefail

PROG=install-chromium
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

die() {
    echo "$PROG: $*" >&2
    exit 1
}

if [[ -x "$CHROMIUM" ]]; then
    echo "$PROG: chromium already installed ($CHROMIUM)"
    exit 0
fi

[[ "$(id -u)" -eq 0 ]] || die "must run as root to install Debian's chromium package (or install it and rerun)"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found; this script supports Debian only"

LOG="$(mktemp /tmp/install-chromium.XXXXXX.log)"
export DEBIAN_FRONTEND=noninteractive

echo "$PROG: installing Debian's chromium (log: $LOG)"
apt-get update >>"$LOG" 2>&1 || die "apt-get update failed; see $LOG"
apt-get install -y --no-install-recommends chromium fonts-dejavu-core >>"$LOG" 2>&1 \
    || die "apt-get install chromium failed; see $LOG"
[[ -x "$CHROMIUM" ]] || die "apt-get installed chromium but $CHROMIUM is missing; see $LOG"

rm -f "$LOG"
echo "$PROG: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium) ($CHROMIUM)"

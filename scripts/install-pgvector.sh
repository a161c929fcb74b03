#!/usr/bin/env bash
# install-pgvector.sh - make the PostgreSQL `vector` extension (pgvector)
# available to the local PostgreSQL server on a Debian machine.
#
# Debian bookworm ships no pgvector package for PostgreSQL 15, so this script
# builds it from the Debian source package of a newer release (trixie by
# default):
#   1. installs postgresql-server-dev-<major> (and dpkg-dev/build tools) if missing;
#   2. fetches the pgvector source package with a PRIVATE apt configuration
#      (own sources list, lists and cache directories in a temp dir), so the
#      system's apt sources and package lists are never modified; the mirror
#      URI is read at run time from the machine's own Debian apt sources;
#   3. runs `make` and `make install` against that server's pg_config.
#
# Idempotent: if vector.control is already installed it prints one line and
# exits 0 without touching apt.
#
# Environment overrides:
#   PG_MAJOR         PostgreSQL major version (default: newest in /usr/lib/postgresql)
#   PGVECTOR_SUITE   Debian suite to take the pgvector source from (default: trixie)
#
# Must run as root (it installs packages and writes into PostgreSQL's dirs).
set -euo pipefail

PROG=install-pgvector
PGVECTOR_SUITE="${PGVECTOR_SUITE:-trixie}"

die() {
    echo "$PROG: $*" >&2
    exit 1
}

# --- PostgreSQL version and pg_config -------------------------------------
if [[ -z "${PG_MAJOR:-}" ]]; then
    if [[ -d /usr/lib/postgresql ]]; then
        PG_MAJOR="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null \
            | grep -E '^[0-9]+$' | sort -n | tail -n 1 || true)"
    fi
    [[ -n "${PG_MAJOR:-}" ]] \
        || die "no PostgreSQL server found in /usr/lib/postgresql; install postgresql first or set PG_MAJOR"
fi
[[ "$PG_MAJOR" =~ ^[0-9]+$ ]] || die "PG_MAJOR must be a number, got '$PG_MAJOR'"

PG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"
if [[ -x "$PG_CONFIG" ]]; then
    PG_SHAREDIR="$("$PG_CONFIG" --sharedir)"
else
    PG_SHAREDIR="/usr/share/postgresql/$PG_MAJOR"
fi
CONTROL="$PG_SHAREDIR/extension/vector.control"

# --- fast path: already installed -------------------------------------------
if [[ -f "$CONTROL" ]]; then
    echo "$PROG: pgvector already installed for PostgreSQL $PG_MAJOR ($CONTROL)"
    exit 0
fi

[[ "$(id -u)" -eq 0 ]] || die "must run as root (installs packages and writes into $PG_SHAREDIR)"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found; this script supports Debian only"

# --- logging, temp dirs, cleanup ---------------------------------------------
LOG="$(mktemp /tmp/install-pgvector.XXXXXX.log)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/install-pgvector.XXXXXX")"
cleanup() {
    rm -rf "$WORK"
}
trap cleanup EXIT

# run DESCRIPTION CMD...: run CMD with its output in the log; die on failure.
run() {
    local what="$1"
    shift
    {
        echo "+ $*"
    } >>"$LOG"
    if ! "$@" >>"$LOG" 2>&1; then
        die "$what failed; see $LOG"
    fi
}

export DEBIAN_FRONTEND=noninteractive

# --- find the Debian mirror in the machine's own apt sources ------------------
# Prints the first URI of the first enabled, non-security Debian stanza/line.
find_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        awk '
            function flush() {
                if (uri != "" && enabled != "no" && types ~ /deb/ \
                    && uri !~ /security/ && suites !~ /security/ && !found) {
                    print uri; found = 1
                }
                uri = ""; suites = ""; types = ""; enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "uris:"    { uri = $2 }
            tolower($1) == "suites:"  { suites = $0 }
            tolower($1) == "types:"   { types = $0 }
            tolower($1) == "enabled:" { enabled = tolower($2) }
            END { flush() }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        # deb [options] URI suite components...
        awk '
            /^[ \t]*#/ { next }
            $1 == "deb" || $1 == "deb-src" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                uri = $(i); suite = $(i + 1)
                if (uri !~ /security/ && suite !~ /security/) print uri
            }
        ' "$f"
    done
}

MIRROR="$(find_mirror | grep -E '^(https?|file|ftp)://' | head -n 1 || true)"
[[ -n "$MIRROR" ]] \
    || die "could not find a Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; add a non-security Debian 'URIs:' entry"

# --- build dependencies --------------------------------------------------------
need_pkgs=()
dpkg-query -W -f='${Status}' "postgresql-server-dev-$PG_MAJOR" 2>/dev/null | grep -q 'install ok installed' \
    || need_pkgs+=("postgresql-server-dev-$PG_MAJOR")
command -v dpkg-source >/dev/null 2>&1 || need_pkgs+=(dpkg-dev)
command -v make >/dev/null 2>&1 || need_pkgs+=(make)
command -v gcc >/dev/null 2>&1 || need_pkgs+=(gcc)
if ((${#need_pkgs[@]} > 0)); then
    echo "$PROG: installing ${need_pkgs[*]} (log: $LOG)"
    run "apt-get update" apt-get update
    run "apt-get install ${need_pkgs[*]}" apt-get install -y --no-install-recommends "${need_pkgs[@]}"
fi
[[ -x "$PG_CONFIG" ]] || die "$PG_CONFIG not found after installing postgresql-server-dev-$PG_MAJOR"
[[ "$("$PG_CONFIG" --sharedir)" == "$PG_SHAREDIR" ]] || PG_SHAREDIR="$("$PG_CONFIG" --sharedir)"
CONTROL="$PG_SHAREDIR/extension/vector.control"

# --- fetch the pgvector source with a private apt configuration ---------------
APTDIR="$WORK/apt"
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/etc"
signed_by=""
if [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
    signed_by="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
fi
echo "deb-src ${signed_by}${MIRROR} ${PGVECTOR_SUITE} main" >"$APTDIR/etc/sources.list"
: >"$APTDIR/etc/preferences"

APT_OPTS=(
    -o "Dir::Etc::sourcelist=$APTDIR/etc/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::Etc::preferences=$APTDIR/etc/preferences"
    -o "Dir::Etc::preferencesparts=-"
    -o "Dir::State::Lists=$APTDIR/lists"
    -o "Dir::Cache=$APTDIR/cache"
    -o "Dir::Cache::pkgcache="
    -o "Dir::Cache::srcpkgcache="
    -o "APT::Sandbox::User=root"
    -o "Acquire::Languages=none"
    -o "APT::Get::List-Cleanup=false"
)

echo "$PROG: building pgvector from Debian $PGVECTOR_SUITE for PostgreSQL $PG_MAJOR (log: $LOG)"
run "apt-get update (private, $PGVECTOR_SUITE deb-src)" apt-get "${APT_OPTS[@]}" update

BUILD="$WORK/build"
mkdir -p "$BUILD"
(cd "$BUILD" && run "apt-get source pgvector" apt-get "${APT_OPTS[@]}" source pgvector)

SRC="$(find "$BUILD" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)"
[[ -n "$SRC" && -f "$SRC/Makefile" ]] || die "apt-get source pgvector produced no source tree; see $LOG"

# OPTFLAGS="" drops pgvector's default -march=native so the build is portable.
run "make (pgvector)" make -C "$SRC" PG_CONFIG="$PG_CONFIG" OPTFLAGS=""
run "make install (pgvector)" make -C "$SRC" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" install

[[ -f "$CONTROL" ]] || die "make install finished but $CONTROL is missing; see $LOG"

rm -f "$LOG"
echo "$PROG: installed pgvector $(basename "$SRC" | sed 's/^pgvector-//') for PostgreSQL $PG_MAJOR ($CONTROL)"

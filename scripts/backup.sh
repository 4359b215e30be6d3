#!/usr/bin/env bash
# Back up ragd's Store (the system of record; in SQLite and pgvector modes the index lives in
# the same database, so it is in the backup too; other index backends are rebuilt from the
# Store with `ragd reindex` after a restore).
#
#   scripts/backup.sh [--data-dir DIR] [--database-url URL] [--out DIR]
#
# Embedded mode (SQLite, no DATABASE_URL or a sqlite:// one): an online copy with SQLite's
#   backup API (consistent while ragd runs and writes), checked with PRAGMA integrity_check,
#   plus every other file of the data dir.
# Postgres (DATABASE_URL=postgresql...): pg_dump --format=custom. PG_DUMP picks the binary
#   (default: pg_dump on PATH, or $PG_BIN_DIR/pg_dump); the server's major version or newer.
#
# Writes OUT/ragd-backup-<UTC time>/ with manifest.json (kind, time, sizes, sha256) and
# prints that path on stdout. Configuration as ragd reads it: RAGD_DATA_DIR, DATABASE_URL.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

data_dir=${RAGD_DATA_DIR:-./ragd-data}
database_url=${DATABASE_URL:-}
out=${RAGD_BACKUP_DIR:-./backups}
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) data_dir=$2; shift 2 ;;
    --database-url) database_url=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "backup.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  if [ -x "$here/../.venv/bin/python" ]; then PYTHON="$here/../.venv/bin/python"; else PYTHON=python3; fi
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
dest="$out/ragd-backup-$stamp"
mkdir -p "$dest"

case "$database_url" in
  "" | sqlite:*)
    kind=sqlite
    db_file="$data_dir/ragd.db"
    if [ -n "$database_url" ]; then db_file=${database_url#sqlite:///}; fi
    [ -f "$db_file" ] || { echo "backup.sh: no SQLite database at $db_file" >&2; exit 1; }
    "$PYTHON" - "$db_file" "$dest/ragd.db" <<'PY'
import sqlite3, sys
src, dst = sys.argv[1], sys.argv[2]
with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as s, sqlite3.connect(dst) as d:
    s.backup(d)  # page by page; restarts by itself if a writer changes the source
    ok = d.execute("PRAGMA integrity_check").fetchone()[0]
    if ok != "ok":
        sys.exit(f"backup.sh: the copy fails integrity_check: {ok}")
    d.execute("PRAGMA journal_mode=DELETE")
PY
    # Everything else in the data dir (the database's own WAL files excepted).
    db_name=$(basename "$db_file")
    if [ "$(cd "$(dirname "$db_file")" && pwd)" = "$(cd "$data_dir" && pwd)" ]; then
      tar -C "$data_dir" -czf "$dest/files.tar.gz" \
        --exclude="./$db_name" --exclude="./$db_name-wal" --exclude="./$db_name-shm" \
        --exclude="./$db_name-journal" .
    else
      tar -C "$data_dir" -czf "$dest/files.tar.gz" .
    fi
    ;;
  postgresql* | postgres:*)
    kind=postgres
    pg_dump=${PG_DUMP:-}
    if [ -z "$pg_dump" ]; then
      if [ -n "${PG_BIN_DIR:-}" ]; then pg_dump="$PG_BIN_DIR/pg_dump"; else pg_dump=pg_dump; fi
    fi
    command -v "$pg_dump" >/dev/null 2>&1 || { echo "backup.sh: $pg_dump not found (set PG_DUMP or PG_BIN_DIR)" >&2; exit 1; }
    # SQLAlchemy's driver suffix (postgresql+psycopg://) is not libpq's.
    libpq_url=$(printf '%s' "$database_url" | sed -E 's#^postgres(ql)?(\+[a-z0-9]+)?://#postgresql://#')
    "$pg_dump" --format=custom --no-owner --no-privileges --file="$dest/postgres.dump" "$libpq_url"
    ;;
  *)
    echo "backup.sh: unsupported DATABASE_URL scheme: ${database_url%%:*}" >&2
    exit 1
    ;;
esac

"$PYTHON" - "$dest" "$kind" "$stamp" <<'PY'
import hashlib, json, os, sys
dest, kind, stamp = sys.argv[1:4]
files = {}
for name in sorted(os.listdir(dest)):
    path = os.path.join(dest, name)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    files[name] = {"bytes": os.path.getsize(path), "sha256": h.hexdigest()}
try:
    from ragd import __version__ as version
except Exception:
    version = None
manifest = {"format": 1, "kind": kind, "created_at": stamp, "ragd_version": version, "files": files}
with open(os.path.join(dest, "manifest.json"), "w") as fh:
    json.dump(manifest, fh, indent=2)
PY
echo "backup.sh: $kind backup written to $dest" >&2
echo "$dest"

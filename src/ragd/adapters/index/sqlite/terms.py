"""Per-chunk term frequencies in the database, so any process can build the BM25 postings.

FTS5 keeps only an inverted index, which cannot be read back by chunk: a process whose
in-memory index must pick up chunks another process wrote needs each new chunk's terms.
So every write also stores, per chunk, its terms as FTS5 tokenized them (``index/tokens.py``):

- ``index_vocab (id, term)``: term ids, append-only (ids never change until ``rebuild``);
- ``index_terms (rowid, data)``: one blob per chunk (same rowid as ``index_chunks``), an
  array of ``TERM_RECORD`` (term id, text tf, title tf), plus its token count.

Indexes built before these tables existed are filled once from FTS5 itself
(``backfill``), since the Index never reads the Store's text.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection

from ragd.adapters.index.sqlite.memory.postings import TERM_RECORD
from ragd.adapters.index.sqlite.versions import EPOCH_KEY
from ragd.adapters.index.tokens import TEXT, TITLE, ChunkTerms

log = logging.getLogger(__name__)

_LOOKUP_BATCH = 500

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS index_vocab (id INTEGER PRIMARY KEY, term TEXT UNIQUE NOT NULL)",
    "CREATE TABLE IF NOT EXISTS index_terms ("
    " rowid INTEGER PRIMARY KEY, length INTEGER NOT NULL, data BLOB NOT NULL)",
)
TABLES = ("index_terms", "index_vocab")


def term_ids(conn: Connection, terms: Iterable[str], *, create: bool) -> dict[str, int]:
    """Ids of ``terms``; with ``create``, terms not in the vocabulary yet are added."""
    wanted = list(dict.fromkeys(terms))
    ids: dict[str, int] = {}
    for start in range(0, len(wanted), _LOOKUP_BATCH):
        batch = wanted[start : start + _LOOKUP_BATCH]
        ids.update(_select_ids(conn, batch))
    if create:
        missing = [t for t in wanted if t not in ids]
        if missing:
            conn.exec_driver_sql(
                "INSERT INTO index_vocab (term) VALUES (?)", [(t,) for t in missing]
            )
            for start in range(0, len(missing), _LOOKUP_BATCH):
                ids.update(_select_ids(conn, missing[start : start + _LOOKUP_BATCH]))
    return ids


def _select_ids(conn: Connection, terms: Sequence[str]) -> dict[str, int]:
    rows = conn.exec_driver_sql(
        "SELECT v.term, v.id FROM json_each(?) j CROSS JOIN index_vocab v ON v.term = j.value",
        (json.dumps(list(terms), ensure_ascii=False),),
    ).all()
    return {term: int(i) for term, i in rows}


def encode(chunks: Sequence[ChunkTerms], ids: dict[str, int]) -> list[bytes]:
    """Each chunk's ``TERM_RECORD`` array as bytes: one record per distinct term.

    Vectorised over all the chunks of a write: (chunk, term) keys of the title and text
    entries are sorted together and a term found in both columns merged into one record.
    """
    owners, terms_, tfs, titles = [], [], [], []
    for col in (TITLE, TEXT):
        per_chunk = [c.title if col == TITLE else c.text for c in chunks]
        sizes = np.fromiter(map(len, per_chunk), dtype=np.int64, count=len(per_chunk))
        total = int(sizes.sum())
        terms_.append(
            np.fromiter((ids[t] for d in per_chunk for t in d), dtype=np.int64, count=total)
        )
        tfs.append(
            np.fromiter((n for d in per_chunk for n in d.values()), dtype=np.int64, count=total)
        )
        owners.append(np.repeat(np.arange(len(chunks), dtype=np.int64), sizes))
        titles.append(np.full(total, col == TITLE))
    key = (np.concatenate(owners) << 32) | np.concatenate(terms_)
    order = np.argsort(key, kind="stable")
    key = key[order]
    tf = np.concatenate(tfs)[order]
    is_title = np.concatenate(titles)[order]
    firsts = np.flatnonzero(np.diff(key, prepend=-1))
    records = np.zeros(len(firsts), dtype=TERM_RECORD)
    if len(firsts):
        records["term"] = key[firsts] & 0xFFFFFFFF
        records["title"] = np.minimum(np.add.reduceat(np.where(is_title, tf, 0), firsts), 0xFFFF)
        records["text"] = np.minimum(np.add.reduceat(np.where(is_title, 0, tf), firsts), 0xFFFF)
    bounds = np.searchsorted(key[firsts] >> 32, np.arange(len(chunks) + 1))
    return [records[bounds[i] : bounds[i + 1]].tobytes() for i in range(len(chunks))]


class WriterVocabulary:
    """Term ids for a writer, remembered across transactions once known to be committed.

    Looking every term of a document up costs more than the rest of its index writes,
    but an id seen in a transaction may vanish with a rollback (and be reused for another
    term). So ids seen in a transaction stay *pending*; at the first write of the next
    transaction, they are checked against the table (committed ones are there, with the
    same term) and only then remembered. A changed epoch (rebuild) forgets everything.
    """

    def __init__(self, max_terms: int = 500_000) -> None:
        self._lock = threading.Lock()
        self._max_terms = max_terms
        self._epoch: str | None = None
        self._committed: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        self._transaction: weakref.ref[Any] | None = None

    def ids(self, conn: Connection, terms: Iterable[str]) -> dict[str, int]:
        """Ids of ``terms``, adding the ones the vocabulary lacks, in ``conn``'s transaction."""
        with self._lock:
            transaction = conn.get_transaction()
            if (
                transaction is None
                or self._transaction is None
                or (self._transaction() is not transaction)
            ):
                self._start(conn, transaction)
            committed, pending = self._committed, self._pending
            out: dict[str, int] = {}
            missing: list[str] = []
            for term in terms:
                found = committed.get(term)
                if found is None:
                    found = pending.get(term)
                if found is None:
                    missing.append(term)
                else:
                    out[term] = found
            if missing:
                looked_up = term_ids(conn, missing, create=True)
                pending.update(looked_up)
                out.update(looked_up)
            return out

    def _start(self, conn: Connection, transaction: Any) -> None:
        epoch = conn.exec_driver_sql(
            "SELECT value FROM index_meta WHERE key = ?", (EPOCH_KEY,)
        ).scalar()
        if epoch != self._epoch or len(self._committed) > self._max_terms:
            self._committed.clear()
            self._epoch = epoch
        elif self._pending:
            by_id = {i: t for t, i in self._pending.items()}
            for start in range(0, len(by_id), _LOOKUP_BATCH * 10):
                batch = list(by_id)[start : start + _LOOKUP_BATCH * 10]
                rows = conn.exec_driver_sql(
                    "SELECT v.id, v.term FROM json_each(?) j"
                    " CROSS JOIN index_vocab v ON v.id = j.value",
                    (json.dumps(batch),),
                ).all()
                for i, term in rows:
                    if by_id.get(int(i)) == term:
                        self._committed[term] = int(i)
        self._pending = {}
        self._transaction = weakref.ref(transaction) if transaction is not None else None


def write(
    conn: Connection,
    rowids: Sequence[int],
    chunks: Sequence[ChunkTerms],
    vocabulary: WriterVocabulary | None = None,
) -> None:
    """Store the terms of freshly inserted ``index_chunks`` rows."""
    wanted = dict.fromkeys(t for c in chunks for col in (c.title, c.text) for t in col)
    if vocabulary is None:
        ids = term_ids(conn, wanted, create=True)
    else:
        ids = vocabulary.ids(conn, wanted)
    blobs = encode(chunks, ids)
    conn.exec_driver_sql(
        "INSERT INTO index_terms (rowid, length, data) VALUES (?, ?, ?)",
        [(rid, c.length, b) for rid, c, b in zip(rowids, chunks, blobs, strict=True)],
    )


def delete(conn: Connection, rowids: Sequence[int]) -> None:
    conn.exec_driver_sql("DELETE FROM index_terms WHERE rowid = ?", [(r,) for r in rowids])


def missing_count(conn: Connection) -> int:
    """Indexed chunks without stored terms (an index built before ``index_terms``)."""
    return int(
        conn.exec_driver_sql(
            "SELECT count(*) FROM index_chunks c"
            " WHERE NOT EXISTS (SELECT 1 FROM index_terms t WHERE t.rowid = c.rowid)"
        ).scalar_one()
    )


def backfill(conn: Connection, batch: int = 500_000) -> int:
    """Fill ``index_terms`` for chunks lacking it, from the FTS5 index; returns how many.

    FTS5 is merged first (``optimize``) so no deleted row's postings linger, then read
    through temporary ``fts5vocab`` tables: the terms are exactly what FTS5 indexed. The
    token instances are streamed and counted with numpy per (chunk, term, column), so a
    large index is migrated in bounded memory (one-time, ~15M instances per 100k chunks).
    """
    todo = np.fromiter(
        (
            int(r[0])
            for r in conn.exec_driver_sql(
                "SELECT c.rowid FROM index_chunks c"
                " WHERE NOT EXISTS (SELECT 1 FROM index_terms t WHERE t.rowid = c.rowid)"
                " ORDER BY c.rowid"
            )
        ),
        dtype=np.int64,
    )
    if not len(todo):
        return 0
    log.info("index: storing the terms of %d chunk(s) from FTS5 (once; ~1 min per 50k)", len(todo))
    conn.exec_driver_sql("INSERT INTO fts_chunks (fts_chunks) VALUES ('optimize')")
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE temp.ragd_fts_instances USING fts5vocab(main, fts_chunks, 'instance')"
    )
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE temp.ragd_fts_terms USING fts5vocab(main, fts_chunks, 'row')"
    )
    try:
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO index_vocab (term) SELECT term FROM temp.ragd_fts_terms"
        )
        ids: dict[str, int] = dict(conn.exec_driver_sql("SELECT term, id FROM index_vocab").all())
        keys, counts = [], []
        result = conn.exec_driver_sql("SELECT term, doc, col FROM temp.ragd_fts_instances")
        while rows := result.fetchmany(batch):
            terms_, docs, cols = zip(*rows, strict=True)
            # key: chunk rowid | term id | column (0 title, 1 text), one int64
            key = (
                (np.array(docs, dtype=np.int64) << 33)
                | (np.fromiter(map(ids.__getitem__, terms_), np.int64, len(rows)) << 1)
                | np.fromiter(map("text".__eq__, cols), np.int64, len(rows))
            )
            k, c = np.unique(key, return_counts=True)
            keys.append(k)
            counts.append(c)
    finally:
        conn.exec_driver_sql("DROP TABLE IF EXISTS temp.ragd_fts_instances")
        conn.exec_driver_sql("DROP TABLE IF EXISTS temp.ragd_fts_terms")
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    count = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    key, inverse = np.unique(key, return_inverse=True)  # batches may split a key
    count = np.bincount(inverse, weights=count).astype(np.int64)
    keep = np.isin(key >> 33, todo)
    key, count = key[keep], count[keep]
    pair = key >> 1  # (chunk, term): title and text entries of a term are adjacent
    is_text = (key & 1).astype(bool)
    firsts = np.flatnonzero(np.diff(pair, prepend=-1))
    records = np.zeros(len(firsts), dtype=TERM_RECORD)
    if len(firsts):
        records["term"] = pair[firsts] & 0xFFFFFFFF
        records["title"] = np.minimum(np.add.reduceat(np.where(is_text, 0, count), firsts), 0xFFFF)
        records["text"] = np.minimum(np.add.reduceat(np.where(is_text, count, 0), firsts), 0xFFFF)
    owner = pair[firsts] >> 32
    bounds = np.searchsorted(owner, todo, side="left"), np.searchsorted(owner, todo, side="right")
    doc_of_key = key >> 33
    lengths = np.bincount(
        np.searchsorted(todo, doc_of_key), weights=count, minlength=len(todo)
    ).astype(np.int64)
    conn.exec_driver_sql(
        "INSERT INTO index_terms (rowid, length, data) VALUES (?, ?, ?)",
        [
            (int(rowid), int(lengths[i]), records[bounds[0][i] : bounds[1][i]].tobytes())
            for i, rowid in enumerate(todo.tolist())
        ],
    )
    return len(todo)

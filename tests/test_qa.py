"""Answering with cited passages: the seed article in German and English, refusals, dates,
follow-ups, agency copy and the JSON contract, against the real index and model."""

from __future__ import annotations

import asyncio
import gc
import json
import re
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.admin import NewsAdmin
from bot.qa import NewsQA
from bot.reader import OTHER_QUOTE_MARGIN
from bot.settings import Settings
from index.loaders import Loader
from index.models import Article
from tests.conftest import ROOT, SEED, invoke_cli

BERLIN = ZoneInfo("Europe/Berlin")
SEED_TEXT = SEED.read_text(encoding="utf-8")
PROMO = [
    "AUDIO",
    "NDR Info hören",
    "Livestream",
    "tagesschau24",
    "Mehr bei tagesschau.de",
    "Dieses Thema im Programm",
    "Hinweis zur Berichterstattung",
    "unabhängiger Stelle",
]


@pytest.fixture(scope="module")
def seed_qa(tmp_path_factory, e5):
    settings = Settings(data_dir=tmp_path_factory.mktemp("seed") / "data")
    with NewsAdmin.open(settings, embedder=e5) as idx:
        idx.ingest(Loader().load([ROOT / "corpus"]))
    with NewsQA(settings, embedder=e5) as qa:
        yield qa


def quotes(answer) -> list[str]:
    return [q for c in answer.citations for q in c.quotes]


def test_a_second_quote_near_the_threshold_is_left_out(seed_qa, monkeypatch):
    """Near the reader's threshold the best of weak candidates may answer, the next best is as
    likely about something else: a sentence is quoted beside the first only where the reader gives
    it ``OTHER_QUOTE_MARGIN`` more than the threshold (the sample's refugee line once came with a
    sentence about captured villages). The thresholds are set from the reader's own log-odds."""
    question = "Was passierte in Kiew?"
    scored = seed_qa.ask(question).trace.reader.scored
    (_, best), (second_text, second) = scored[:2]
    assert best - second < 1.5, scored  # close enough that only the margin can tell them apart

    def quoted(threshold: float) -> str:
        monkeypatch.setattr(seed_qa.reader, "threshold", threshold)
        return " ".join(quotes(seed_qa.ask(question)))

    assert second_text in quoted(second - OTHER_QUOTE_MARGIN - 0.5)  # clearly over it: quoted beside
    near = quoted(second - OTHER_QUOTE_MARGIN + 0.5)
    assert second_text not in near and "Einkesselung von Kiew" in near  # near it: the best alone


def test_an_english_question_on_a_teaser_line_is_answered(seed_qa):
    """The sample's answer to "How many refugees ...?" is a live blog's teaser line; English
    questions on short lines scored lowest (docs/reader.md, Limits)."""
    answer = seed_qa.ask("How many refugees from Ukraine have arrived so far?")
    assert not answer.refused
    assert quotes(answer)[0] == "Live-Blog: Bislang mehr als 50.000 Ukraine-Flüchtlinge eingereist"


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Wer hat in Belarus verhandelt?", "Verhandlungs"),  # the lead or the negotiator Medinski
        ("Who negotiated in Belarus?", "Verhandlungs"),  # the lead or the negotiator Medinski
        ("Wo wollen sich Lawrow und Kuleba treffen?", "Antalya"),
        ("Where are Lavrov and Kuleba going to meet?", "Antalya"),
        ("Wie viele zusätzliche US-Soldaten schicken die USA nach Europa?", "500"),
        ("How many more US soldiers are going to Europe?", "500"),
        ("Wie viele Flüchtlinge aus der Ukraine sind bislang eingereist?", "50.000"),
        ("How many refugees from Ukraine have arrived so far?", "50.000"),
    ],
)
def test_seed_questions_are_answered_with_verbatim_quotes(seed_qa, question, expected):
    answer = seed_qa.ask(question)
    assert not answer.refused
    assert expected in quotes(answer)[0]
    for quote in quotes(answer):
        for sentence in quote.split(". "):
            assert sentence in SEED_TEXT  # verbatim, nothing invented
    (citation,) = answer.citations
    assert citation.n == 1 and f"[{citation.n}]" in answer.text
    assert citation.title == "Russland-Ukraine-Krieg: Wenig Fortschritt bei Verhandlungen"
    assert citation.source == "tagesschau.de"
    assert citation.updated == "2022-03-07T19:45:00+01:00"
    assert 0 < citation.score <= 1.5


@pytest.mark.parametrize("question", ["Who negotiated in Belarus?", "Was sagte Medinski?", "Was meldete Russland?"])
def test_quotes_never_repeat_a_sentence(seed_qa, question):
    from index.split import split_sentences

    sentences = [s for q in quotes(seed_qa.ask(question)) for s in split_sentences(q)]
    assert sentences and len(sentences) == len(set(sentences))


def test_framing_follows_the_question_language(seed_qa):
    de = seed_qa.ask("Wo wollen sich Lawrow und Kuleba treffen?")
    assert de.language == "de"
    assert de.text.startswith("Laut tagesschau.de (Stand 07.03.2022, 19:45): „")
    assert de.text.endswith("“ [1]")
    en = seed_qa.ask("Where are Lavrov and Kuleba going to meet?")
    assert en.language == "en"
    assert en.text.startswith("According to tagesschau.de (updated 07.03.2022, 19:45): \u201c")


def test_editorial_note_travels_with_the_answer(seed_qa):
    answer = seed_qa.ask("Wie viele Siedlungen hat Russland eingenommen?")
    assert answer.note and "nicht unmittelbar von unabhängiger Stelle überprüft" in answer.note
    assert "überprüft" not in " ".join(quotes(answer))


@pytest.mark.parametrize(
    "question, language",
    [
        ("Wer gewann die Fußball-Weltmeisterschaft 2014?", "de"),
        ("What is the capital of Australia?", "en"),
        ("Wie backe ich einen Apfelkuchen?", "de"),
        ("asdf qwer zxcv", None),
    ],
)
def test_unanswerable_questions_are_refused(seed_qa, question, language):
    answer = seed_qa.ask(question)
    assert answer.refused and answer.citations == [] and answer.note is None
    if language == "de":
        assert answer.text == "Dazu habe ich in den Artikeln nichts gefunden."
    elif language == "en":
        assert answer.text == "I found nothing about that in the articles."


@pytest.mark.parametrize(
    "question",
    [
        "Wo kann ich NDR Info hören?",
        "Gibt es einen Livestream von tagesschau24?",
        "Kommentar russisches Gas boykottieren",
        "Wann läuft das Thema im Programm von NDR Info?",
    ],
)
def test_boilerplate_is_never_quoted(seed_qa, question):
    # The promo lines are in the article as ingested, but never among its indexed sentences,
    # so no question (answered or refused) can quote them.
    (article_id,) = [r[0] for r in seed_qa.index.catalog.db.execute("SELECT id FROM articles")]
    text = seed_qa.article(article_id).text
    assert sum(promo in text for promo in PROMO) >= 5
    sentences = [r[0] for r in seed_qa.index.catalog.db.execute("SELECT text FROM sentences")]
    assert sentences and not [s for s in sentences for promo in PROMO if promo in s]
    answer = seed_qa.ask(question)
    for quote in quotes(answer):
        for promo in PROMO:
            assert promo not in quote


def test_follow_ups_use_the_history(seed_qa):
    first = seed_qa.ask("Wo wollen sich Lawrow und Kuleba treffen?")
    follow = seed_qa.ask("Und wann?", history=[first])
    assert "Lawrow" in follow.trace.query and follow.trace.query.startswith("Und wann?")
    assert follow.language == "de" and "Donnerstag" in quotes(follow)[0]
    first_en = seed_qa.ask("Who negotiated in Belarus?")
    follow_en = seed_qa.ask("And where?", history=[first_en])
    assert follow_en.language == "en"
    assert follow_en.trace.query.startswith("And where?") and "negotiated" in follow_en.trace.query
    # its own question about its own topic: it stands alone (the old topic would find the old answer)
    medinski = seed_qa.ask("And what did Medinski say?", history=[first_en])
    assert medinski.trace.query == "And what did Medinski say?"
    assert any("Medinski" in q for q in quotes(medinski))
    # without an earlier question, "Und wann?" names nothing to look for
    assert seed_qa.ask("Und wann?").refused and seed_qa.ask("И когда?").refused
    # a question that stands on its own is not rewritten
    alone = seed_qa.ask("Wie viele Flüchtlinge sind eingereist?", history=[first])
    assert alone.trace.query == "Wie viele Flüchtlinge sind eingereist?"


INFLATION = {
    "id": "inflation-mai",
    "title": "Inflation bleibt niedrig",
    "published": "2015-06-17",
    "text": "Die Inflation in Österreich ist im Mai auf 0,7 Prozent gestiegen, teilte die Statistik Austria mit. "
    "In der Eurozone lag die Teuerung im Mai bei 0,1 Prozent. "
    "Teurer wurden vor allem Mieten und Restaurantbesuche. "
    "Treibstoff kostete dagegen deutlich weniger als vor einem Jahr.",
}
# (first question, follow-up, what the follow-up's first quote says): a new place, a new party
FOLLOW_UPS = [
    ("Wie hoch war die Inflation in Österreich?", "Und in der Eurozone?", "0,1 Prozent"),
    ("How high was inflation in Austria?", "And in the eurozone?", "0,1 Prozent"),
    ("Какой была инфляция в Австрии?", "А в еврозоне?", "0,1 Prozent"),
    ("Quelle était l'inflation en Autriche ?", "Et dans la zone euro ?", "0,1 Prozent"),
    ("Wie hoch war die Inflation in Österreich?", "Und was sagte Medinski?", "Medinski"),
    ("How high was inflation in Austria?", "And what did Medinski say?", "Medinski"),
]


@pytest.fixture(scope="module")
def inflation_settings(tmp_path_factory, e5):
    root = tmp_path_factory.mktemp("inflation")
    settings = Settings(data_dir=root / "data")
    (root / "inflation.json").write_text(json.dumps(INFLATION), encoding="utf-8")
    with NewsAdmin.open(settings, embedder=e5) as idx:
        idx.ingest(Loader().load([ROOT / "corpus", root / "inflation.json"]))
    return settings


@pytest.mark.parametrize(("first", "follow_up", "said"), FOLLOW_UPS)
def test_a_follow_up_keeps_only_what_it_lacks(inflation_settings, e5, first, follow_up, said):
    """A new place replaces the old one and keeps the asked attribute; a new party with its own
    question stands alone (the old topic would only find the old answer again)."""
    with NewsQA(inflation_settings, embedder=e5) as qa:
        before = qa.ask(first)
        assert "0,7 Prozent" in quotes(before)[0]
        answer = qa.ask(follow_up, history=[before])
    assert not {"Österreich", "Austria", "Австрии", "Autriche"} & set(answer.trace.query.split())
    assert said in quotes(answer)[0]


def test_follow_ups_through_the_repl_and_the_api(inflation_settings, e5, monkeypatch):
    """The front ends share ``Conversation``: the REPL and the API's conversation_id."""
    from fastapi.testclient import TestClient

    from bot.http import create_app

    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(inflation_settings.data_dir))
    script = "Wie hoch war die Inflation in Österreich?\nUnd in der Eurozone?\n:quit\n"
    repl = invoke_cli("repl", input=script)
    assert repl.returncode == 0, repl.stderr
    assert repl.stdout.index("0,7 Prozent") < repl.stdout.rindex("0,1 Prozent")
    key = {"X-API-Key": "k" * 20}
    with NewsQA(inflation_settings, embedder=e5) as qa:
        app = create_app(Settings(**{**inflation_settings.model_dump(), "api_keys": "k" * 20}), qa=qa)
        with TestClient(app) as client:
            for question, said in (("How high was inflation in Austria?", "0,7"), ("And in the eurozone?", "0,1")):
                body = client.post("/v1/ask", json={"question": question, "conversation_id": "c"}, headers=key).json()
                assert said in body["citations"][0]["quote"]


@pytest.mark.parametrize(
    ("previous", "follow_up", "query"),
    [
        ("Wo wollen sich Lawrow und Kuleba treffen?", "Und wann?", "Und wann? wollen Lawrow Kuleba treffen"),
        ("Wollen die USA Soldaten nach Europa schicken?", "Und was sagte Medinski?", "Und was sagte Medinski?"),
        # a word of the previous question is no topic of its own: the rest is borrowed
        (
            "Wollen die USA Soldaten nach Europa schicken?",
            "Und wie viele Soldaten?",
            "Und wie viele Soldaten? Wollen USA Europa schicken",
        ),
        (
            "Wie hoch war die Inflation in Österreich im Mai?",
            "Und in der Eurozone?",
            "Und in der Eurozone? hoch Inflation Mai",
        ),
        ("Wie hoch war die Inflation in Österreich im Mai?", "Und im Juni?", "Und im Juni? hoch Inflation Österreich"),
        ("How many refugees came to Austria in 2016?", "And in 2015?", "And in 2015? refugees came Austria"),
        ("Was plant Kurz bei der Steuerreform?", "Was sagte er dazu?", "Was sagte er dazu? plant Kurz Steuerreform"),
    ],
)
def test_follow_up_rewrites(previous, follow_up, query):
    from bot.conversation import rewrite

    assert rewrite(follow_up, [previous]) == query


def test_history_is_bounded():
    from bot.conversation import MAX_HISTORY, trim

    assert trim(list(range(50))) == list(range(50 - MAX_HISTORY, 50))


def test_aask_runs_off_the_event_loop(seed_qa, monkeypatch):
    threads: list[int] = []
    ask = seed_qa.ask

    def recording_ask(question, **kwargs):
        threads.append(threading.get_ident())
        return ask(question, **kwargs)

    monkeypatch.setattr(seed_qa, "ask", recording_ask)

    async def main():
        return threading.get_ident(), await seed_qa.aask("Where are Lavrov and Kuleba going to meet?")

    loop_thread, answer = asyncio.run(main())
    assert threads and threads[0] != loop_thread  # the work ran in a worker thread
    assert "Antalya" in quotes(answer)[0]


def test_bad_questions_and_dates_are_clear_errors(seed_qa):
    from bot.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="empty"):
        seed_qa.ask("   ")
    with pytest.raises(InvalidInputError, match="too long"):
        seed_qa.ask("Frage " * 1000)
    with pytest.raises(InvalidInputError, match="Invalid date filter"):
        seed_qa.ask("Wer hat verhandelt?", since="irgendwann")


# ---- dates ---------------------------------------------------------------------------------

TALKS = [
    (
        "talks-0307",
        "2022-03-07T19:45:00+01:00",
        "Verhandlungen in Belarus",
        "Die Delegationen aus Russland und der Ukraine verhandelten in Belarus über humanitäre Korridore.",
    ),
    (
        "talks-0308",
        "2022-03-08T18:00:00+01:00",
        "Neue Gespräche angekündigt",
        "Die Delegationen aus Russland und der Ukraine wollen ihre Verhandlungen über Korridore fortsetzen.",
    ),
    (
        "talks-0301",
        "2022-03-01T12:00:00+01:00",
        "Erste Runde",
        "Die Delegationen aus Russland und der Ukraine trafen sich zur ersten Verhandlungsrunde über Korridore.",
    ),
]


@pytest.fixture(scope="module")
def dated_qa(tmp_path_factory, e5):
    settings = Settings(data_dir=tmp_path_factory.mktemp("dated") / "data")
    articles = [
        Article(id=i, title=t, text=x, updated=datetime.fromisoformat(u), source="Agentur") for i, u, t, x in TALKS
    ]
    with NewsAdmin.open(settings, embedder=e5) as idx:
        idx.ingest(articles)
    with NewsQA(settings, embedder=e5) as qa:
        yield qa


NOW = datetime(2022, 3, 9, 9, 0, tzinfo=BERLIN)


def cited(answer) -> list[str]:
    return [c.article_id for c in answer.citations]


def test_relative_dates_filter_articles(dated_qa):
    assert cited(dated_qa.ask("Worüber verhandelten die Delegationen gestern?", now=NOW)) == ["talks-0308"]
    assert cited(
        dated_qa.ask("What did the Russian and Ukrainian delegations negotiate about yesterday?", now=NOW)
    ) == ["talks-0308"]
    # "am 7. März" dates the event: that day's article first, the next day's report may follow
    on_the_7th = cited(dated_qa.ask("Worüber verhandelten die Delegationen am 7. März?", now=NOW))
    assert on_the_7th[0] == "talks-0307" and set(on_the_7th) <= {"talks-0307", "talks-0308"}
    answer = dated_qa.ask("Verhandlungen der Delegationen über Korridore seit Montag", now=NOW)
    assert set(cited(answer)) <= {"talks-0307", "talks-0308"} and answer.citations
    assert answer.trace.date_filter["since"] == "2022-03-07T00:00:00+01:00"
    # A calendar date names the event: reports of the following week count, nothing before it.
    assert dated_qa.ask("Worüber verhandelten die Delegationen am 20. Februar?", now=NOW).refused


@pytest.mark.parametrize(
    ("yesterday", "on_the_7th"),
    [
        (
            "¿Sobre qué negociaron ayer las delegaciones de Rusia y Ucrania?",
            "¿Sobre qué negociaron las delegaciones el 7 de marzo?",
        ),
        (
            "О чём вчера вели переговоры делегации России и Украины?",
            "О чём вели переговоры делегации 7 марта?",
        ),
    ],
)
def test_dates_in_another_language_filter_articles_as_german_ones_do(dated_qa, yesterday, on_the_7th):
    """A Spanish or Russian reporter's "ayer" / "7 de marzo" filters as "gestern" / "am 7. März"
    does (before, only German and English dates were read)."""
    assert cited(dated_qa.ask(yesterday, now=NOW)) == ["talks-0308"]
    answer = dated_qa.ask(on_the_7th, now=NOW)
    assert answer.trace.date_filter["since"] == "2022-03-07T00:00:00+01:00"
    assert answer.citations and set(cited(answer)) <= {"talks-0307", "talks-0308"}  # not the 1 March one


@pytest.mark.parametrize(
    ("question", "reads"),
    [
        ("¿Qué dijo ayer el Bayern de Múnich?", "¿Qué dijo el Bayern de Múnich?"),  # not "el B n"
        ("Dünya Bankası dün ne açıkladı?", "Dünya Bankası ne açıkladı?"),
        ("梅丁斯基昨天说了什么？", "梅丁斯基 说了什么？"),  # no spaces between Chinese words
    ],
)
def test_a_date_phrase_leaves_the_words_around_it_whole(qa, question, reads):
    """The search and the reader read the question without its date phrase, taken out as a whole
    word: a one-word "yesterday" ("ayer", "dün") is also the inside of other words."""
    found = qa.find(question)
    assert found.dates.phrases and found.search == found.reading == reads


def test_a_date_in_the_question_does_not_hide_undated_articles(tmp_path, e5):
    """Issue: "im September 2015" in a question must not make an undated article vanish; an
    explicit --since/--until still excludes it."""
    settings = Settings(data_dir=tmp_path / "data")
    undated = Article(id="zaun", title="Grenzzaun", text="Der Grenzzaun in Spielfeld kostet 1,2 Millionen Euro.")
    with NewsAdmin.open(settings, embedder=e5) as admin:
        admin.ingest([undated])
    with NewsQA(settings, embedder=e5) as qa:
        guessed = qa.ask("Wie viel kostete der Grenzzaun in Spielfeld im September 2015?", now=NOW)
        assert guessed.trace.date_filter["since"].startswith("2015-09-01") and not guessed.refused
        assert cited(guessed) == ["zaun"]
        explicit = qa.ask("Wie viel kostete der Grenzzaun in Spielfeld?", since="2015-09-01", now=NOW)
        assert explicit.refused


def test_explicit_since_and_until(dated_qa):
    assert cited(dated_qa.ask("Verhandlungen der Delegationen über Korridore", until="2022-03-01", now=NOW)) == [
        "talks-0301"
    ]
    answer = dated_qa.ask("Verhandlungen der Delegationen über Korridore", since="2022-03-08", now=NOW)
    assert cited(answer) == ["talks-0308"]


def test_recency_words_favour_newer_articles(dated_qa):
    latest = dated_qa.ask("Neueste Verhandlungen der Delegationen über Korridore", now=NOW)
    assert latest.trace.date_filter["recency"]
    assert latest.trace.ranking[0] == "talks-0308"


# ---- agency copy ----------------------------------------------------------------------------


def test_same_quote_in_several_articles_cites_the_earliest_once(tmp_path, e5):
    wire = "Der türkische Außenminister Cavusoglu kündigte ein Treffen von Lawrow und Kuleba in Antalya an."
    articles = [
        Article(
            id="late",
            title="Spät",
            text=f"{wire} Die Regionalzeitung ergänzt Details zur Anreise.",
            source="Zeitung B",
            updated=datetime(2022, 3, 8, 12, 0, tzinfo=BERLIN),
        ),
        Article(
            id="early",
            title="Früh",
            text=f"{wire} Die Agentur meldet weitere Einzelheiten.",
            source="Agentur A",
            updated=datetime(2022, 3, 7, 9, 0, tzinfo=BERLIN),
        ),
    ]
    settings = Settings(data_dir=tmp_path / "wire")
    with NewsAdmin.open(settings, embedder=e5) as idx:
        idx.ingest(articles)
    with NewsQA(settings, embedder=e5) as qa:
        answer = qa.ask("Wer kündigte das Treffen in Antalya an?")
    wire_citations = [c for c in answer.citations if wire in c.quotes]
    assert len(wire_citations) == 1
    assert wire_citations[0].article_id == "early"
    assert [a.article_id for a in wire_citations[0].also] == ["late"]
    assert answer.text.count(wire) == 1


# ---- front ends -----------------------------------------------------------------------------


def test_ask_json_contract():
    assert invoke_cli("ingest", str(ROOT / "corpus")).returncode == 0
    result = invoke_cli("ask", "Wo wollen sich Lawrow und Kuleba treffen?", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"question", "answer", "refused", "language", "citations", "note", "timings_ms"} <= set(data)
    assert isinstance(data["question"], str) and isinstance(data["answer"], str)
    assert data["refused"] is False and data["language"] == "de"
    assert isinstance(data["timings_ms"]["total"], float)
    (c,) = data["citations"]
    types = {"n": int, "article_id": str, "title": str, "quote": str, "score": float}
    for key, kind in types.items():
        assert isinstance(c[key], kind), key
    for key in ("source", "url", "published", "updated"):
        assert key in c and (c[key] is None or isinstance(c[key], str))
    datetime.fromisoformat(c["updated"])
    assert "Antalya" in c["quote"]


def test_repl_through_stdin():
    assert invoke_cli("ingest", str(ROOT / "corpus")).returncode == 0
    script = (
        "\n".join(
            [
                "Wo wollen sich Lawrow und Kuleba treffen?",
                "Und wann?",
                ":sources",
                ":since kaputt",
                ":debug",
                "What is the capital of Australia?",
                ":reset",
                ":unknown",
                ":quit",
                "never asked",
            ]
        )
        + "\n"
    )
    result = invoke_cli("repl", input=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("Antalya") >= 2
    assert "[1] Russland-Ukraine-Krieg: Wenig Fortschritt bei Verhandlungen (tagesschau.de, 07.03.2022)" in out
    assert "Error: unparseable date 'kaputt'" in out
    assert "I found nothing about that in the articles." in out
    assert "query:" in out and "Conversation and date filters reset." in out
    assert "Unknown command :unknown" in out
    assert "Traceback" not in out + result.stderr


def test_eval_command_on_a_small_squad_file(tmp_path):
    def squad(questions: list[str]) -> dict:
        contexts = [
            "Die Delegationen aus Russland und der Ukraine trafen sich in Belarus. Sie verhandelten über humanitäre Korridore.",
            "Die US-Regierung will weitere 500 Soldaten nach Europa schicken. Das kündigte das Pentagon an.",
            "Lawrow und Kuleba sollen sich am Donnerstag in Antalya treffen. Die Türkei vermittelt.",
        ]
        answers = ["Belarus", "500", "Antalya"]
        return {
            "version": "1.1",
            "data": [
                {
                    "title": "Test",
                    "paragraphs": [
                        {
                            "context": c,
                            "qas": [
                                {"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": c.index(a)}]}
                            ],
                        }
                        for i, (c, q, a) in enumerate(zip(contexts, questions, answers))
                    ],
                }
            ],
        }

    de = tmp_path / "de.json"
    de.write_text(
        json.dumps(
            squad(
                [
                    "Wo trafen sich die Delegationen?",
                    "Wie viele Soldaten schicken die USA?",
                    "Wo treffen sich Lawrow und Kuleba?",
                ]
            )
        )
    )
    en = tmp_path / "en.json"
    en.write_text(
        json.dumps(
            squad(
                [
                    "Where did the delegations meet?",
                    "How many soldiers does the US send?",
                    "Where will Lavrov and Kuleba meet?",
                ]
            )
        )
    )
    for extra in ([], ["--questions", str(en)]):
        result = invoke_cli("eval", str(de), *extra, "--json")
        assert result.returncode == 0, result.stderr
        metrics = json.loads(result.stdout)
        assert set(metrics) >= {
            "n",
            "mrr10",
            "recall1",
            "recall5",
            "answer_top1",
            "answer_any",
            "refused",
            "latency_ms",
        }
        assert metrics["n"] == 3 and metrics["mrr10"] == 1.0 and metrics["answer_any"] >= 2 / 3
        assert set(metrics["latency_ms"]) == {"p50", "p95"}
    assert not (tmp_path / "data").exists()  # a temporary data dir unless --data-dir is given
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    result = invoke_cli("eval", str(broken))
    assert result.returncode != 0 and "SQuAD format" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_long_lived_reader_follows_ingest_processes(tmp_path, e5, settings):
    """A bot keeps its index open for days while `newsbot ingest` runs from cron: the reader must
    see added, updated and removed articles (embedded Chroma alone keeps a stale per-process view)."""
    question = "Wie lange haben die Bücherhallen in Hamburg geöffnet?"
    article = {
        "id": "hh-buecherhallen",
        "title": "Bücherhallen öffnen länger",
        "text": "Die Hamburger Bücherhallen verlängern ab Montag ihre Öffnungszeiten bis 22 Uhr. "
        "Das beschloss der Stiftungsrat am Dienstag.",
    }
    record = tmp_path / "article.json"

    def ingest(text: str) -> None:
        record.write_text(json.dumps({**article, "text": text}), encoding="utf-8")
        assert invoke_cli("ingest", str(record)).returncode == 0

    assert invoke_cli("ingest", str(ROOT / "corpus")).returncode == 0
    with NewsQA(settings, embedder=e5) as qa:
        qa.warm_up()
        assert gc.get_freeze_count() > 0  # what the server loaded is out of the full GC passes
        assert qa.ask(question).refused

        ingest(article["text"])
        added = qa.ask(question)
        assert not added.refused and "bis 22 Uhr" in added.citations[0].quote

        ingest(article["text"].replace("22 Uhr", "23 Uhr"))
        updated = qa.ask(question)
        assert "bis 23 Uhr" in updated.citations[0].quote
        assert not any("22 Uhr" in q for c in updated.citations for q in c.quotes)

        assert invoke_cli("remove", article["id"]).returncode == 0
        removed = qa.ask(question)
        assert not any(c.article_id == article["id"] for c in removed.citations)
        assert not qa.ask("Wer hat in Belarus verhandelt?").refused  # the rest still answers


def test_an_article_with_one_sentence_near_the_question_by_chance_ranks_below_one_with_several():
    """Chinese, Russian and Arabic questions have no keyword to confirm the one sentence near
    them, and a single sentence near a question by chance (e5's hubs) outranked the answering
    article (on the development questions it was first for 0.64 of them; now 0.81). The evidence
    that decides "nothing found" is measured as before, without this correction."""
    import numpy as np

    from bot.answering import lead_score
    from bot.retrieve import Retrieval, rank_articles
    from index.models import ArticleMeta

    def rows(article: str, passages: list[int]) -> list[dict[str, object]]:
        return [
            {
                "vid": f"{article}-{idx}",
                "article_id": article,
                "idx": idx,
                "passage": passage,
                "kind": "text",
                "text": f"Satz {idx} des Artikels {article} mit genug Worten.",
                "stems": "",
                "heading": None,
                "teaser_title": None,
            }
            for idx, passage in enumerate(passages)
        ]

    metas = {a: ArticleMeta(a, a) for a in ("zufall", "antwort")}
    answer = rows("antwort", [0, 0, 0])
    chance = rows("zufall", [0, 0, 0])  # its other sentences are far from the question
    similarities = np.array([0.86, 0.70, 0.69, 0.85, 0.84, 0.83])
    ranked = rank_articles([*chance, *answer], similarities, {}, metas, None)
    assert [a.article_id for a in ranked] == ["antwort", "zufall"]
    evidence = lead_score(Retrieval("?", ranked, [], 0, {}))
    assert evidence == pytest.approx(0.86 + 0.5 * (0.86 - 0.85))  # the best sentence and its lead, as before


def test_a_quote_has_words():
    """Issue: a lone "." (left over from an article's layout, indexed as a sentence) was once
    shown as the answer. It may score best; it is never quoted."""
    from bot.answering import default_model
    from bot.extract import choose_quotes, rank_quotes
    from bot.retrieve import RankedArticle, Retrieval, ScoredSentence
    from index.models import ArticleMeta

    def sentence(idx: int, text: str, similarity: float) -> ScoredSentence:
        return ScoredSentence(f"v{idx}", "tunnel", idx, 0, "text", text, None, None, similarity, 0.0)

    sentences = [
        sentence(1, "Der Elbtunnel wird ab Montag saniert.", 0.80),
        sentence(2, ".", 0.95),
        sentence(3, "2022", 0.90),
        sentence(4, "Die Arbeiten dauern bis zum Sommer.", 0.78),
    ]
    article = RankedArticle("tunnel", 0.95, 0, 0.95, 0.0, sentences, ArticleMeta("tunnel", "Elbtunnel"))
    retrieval = Retrieval("Wann wird der Elbtunnel saniert?", [article], ["elbtunnel"], 1, {}, level=0.7)
    for model in (None, default_model()):
        ranked = rank_quotes(retrieval, retrieval.query, model)
        assert {q.sentence.idx for q in ranked} == {1, 4}
        assert all(re.search(r"[^\W\d_]{2,}", q.text) for q in choose_quotes(ranked))


def test_eval_reads_squad_2_unanswerable_questions(tmp_path):
    from bot.evaluate import load_squad

    context = "Der Elbdeich bei Wedel wird bis 2027 um zwei Meter erhöht."
    data = {
        "version": "v2.0",
        "data": [
            {
                "title": "gnad-1",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "a",
                                "question": "Um wie viel wird der Deich erhöht?",
                                "lang": "de",
                                "is_impossible": False,
                                "answers": [{"text": "zwei Meter", "answer_start": context.index("zwei Meter")}],
                            },
                            {
                                "id": "b",
                                "question": "Was kostet der Deich?",
                                "lang": "de",
                                "is_impossible": True,
                                "answers": [],
                            },
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "squad2.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    articles, questions = load_squad(path)
    assert len(articles) == 1  # the article stays indexed: its unanswerable question is a hard negative
    assert [(q.id, q.answerable, q.lang) for q in questions] == [("a", True, "de"), ("b", False, "de")]

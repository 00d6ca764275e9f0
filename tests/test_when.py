"""Dates in questions, resolved against a fixed clock (Wednesday, 9 March 2022, Berlin)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.when import resolve

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2022, 3, 9, 10, 0, tzinfo=BERLIN)


def d(day: str | None) -> datetime | None:
    return datetime.fromisoformat(day).replace(tzinfo=BERLIN) if day else None


@pytest.mark.parametrize(
    "question, since, until",
    [
        ("Was geschah gestern in Kiew?", "2022-03-08", "2022-03-09"),
        ("What happened yesterday?", "2022-03-08", "2022-03-09"),
        # a calendar date names the event: articles of the following week report on it
        ("Wer hat am 7. März verhandelt?", "2022-03-07", "2022-03-15"),
        ("Who negotiated on March 7?", "2022-03-07", "2022-03-15"),
        ("Was war am 07.03.2022?", "2022-03-07", "2022-03-15"),
        ("Was gab es letzte Woche?", "2022-02-28", "2022-03-07"),
        ("Was ist seit Montag passiert?", "2022-03-07", None),
        ("What happened since Monday?", "2022-03-07", None),
        ("news in March 2022", "2022-03-01", "2022-04-08"),
        ("Was geschah im Mai?", "2021-05-01", "2021-06-08"),  # no year: the most recent May
        ("Flüchtlinge bis zum 8. März", None, "2022-03-08"),
        ("vor 2 Tagen", "2022-03-07", "2022-03-08"),
        ("heute", "2022-03-09", "2022-03-10"),
        ("last month", "2022-02-01", "2022-03-01"),
    ],
)
def test_date_phrases(question, since, until):
    result = resolve(question, NOW)
    assert (result.since, result.until) == (d(since), d(until))
    assert result.phrases


@pytest.mark.parametrize(
    "question",
    [
        "Wer hat in Belarus verhandelt?",
        "500 Soldaten nach Europa",
        "Wer gewann im Jahr 2014 die WM?",
        "um 19.45 Uhr",
        "am 31. Februar",
        "What may happen?",
        "Welche Gebäude sind heute als Altstadt bekannt?",
        "Fragmente sind noch heute sichtbar",
        "lower than today",
    ],
)
def test_no_date_no_filter(question):
    result = resolve(question, NOW)
    assert result.since is None and result.until is None


def test_recency_words():
    assert resolve("Was sind die neuesten Meldungen?", NOW).recency
    assert resolve("latest news on Kyiv", NOW).recency
    assert not resolve("Wer hat verhandelt?", NOW).recency


def test_naive_now_is_read_in_berlin():
    result = resolve("gestern", datetime(2022, 3, 9, 0, 30))
    assert result.since == d("2022-03-08")

"""Hardening round 2, finding 1: one article date must not brick the server (each test fails
without its fix)."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from fastapi.testclient import TestClient

from bot.http import create_app
from bot.qa import NewsQA
from index.dates import article_date
from tests.conftest import invoke_cli
from tests.test_api import ADMIN_AUTH, api_settings

BEYOND = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "-0001-01-01", "10000-01-01")


@pytest.mark.parametrize("value", BEYOND)
def test_dates_beyond_the_calendar_are_input_errors(value):
    with pytest.raises(ValueError, match="out of range|unparseable"):
        article_date(value)


def test_a_bad_date_fails_its_record_and_the_rest_are_ingested(index_settings, qa, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(index_settings.data_dir, data_dir)
    settings = api_settings(index_settings, data_dir=data_dir)
    records = [
        {"id": f"bad-{n}", "text": "Der Deich bei Wedel wird erhöht.", "published": v} for n, v in enumerate(BEYOND)
    ]
    records.append({"id": "good", "text": "Die Fähre nach Helgoland fährt wieder.", "published": "2022-03-08"})
    body = "\n".join(json.dumps(r) for r in records)
    with NewsQA(settings, embedder=qa.index.embedder) as own, TestClient(create_app(settings, qa=own)) as client:
        report = client.post(
            "/v1/articles", content=body, headers={**ADMIN_AUTH, "Content-Type": "application/x-ndjson"}
        )
        assert report.status_code == 200, report.text
        assert report.json()["added"] == 1
        reasons = [f["reason"] for f in report.json()["failed"]]
        assert len(reasons) == len(BEYOND) and all("date" in r for r in reasons), reasons
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_a_catalog_holding_a_date_beyond_the_calendar_still_serves(index_settings, qa, tmp_path, e5):
    """A catalog an older newsbot wrote may hold such a date: readers must not fail on it."""
    data_dir = tmp_path / "data"
    shutil.copytree(index_settings.data_dir, data_dir)
    with sqlite3.connect(data_dir / "catalog.sqlite3") as db:  # what 9999-12-31T23:59:59-14:00 was stored as
        db.execute("UPDATE articles SET date_ts = 253402350399.0, updated = '9999-12-31T23:59:59-14:00'")
    settings = api_settings(index_settings, data_dir=data_dir)
    with NewsQA(settings, embedder=e5) as own:
        assert own.overview().articles >= 1
        answer = own.ask("Wer hat in Belarus verhandelt?")
        assert answer.text
        with TestClient(create_app(settings, qa=own)) as client:
            assert client.get("/readyz").status_code == 200
    result = invoke_cli("stats", env={"NEWSBOT_DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stdout + result.stderr

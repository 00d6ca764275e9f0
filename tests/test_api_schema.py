"""Schemathesis against /openapi.json: no generated request, valid or not, gets a 5xx, and every
error is newsbot's JSON error shape."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from bot.http import create_app
from bot.qa import NewsQA
from bot.settings import Settings
from tests.conftest import sample_index

READ, ADMIN = "read-key-schema", "admin-key-schema"


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, e5):
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("schema") / "data", api_keys=READ, admin_keys=ADMIN, rate_limit="100000/minute"
    )
    sample_index(settings, e5, tmp_path_factory.mktemp("records"))
    with NewsQA(settings, embedder=e5) as qa:
        yield schemathesis.openapi.from_asgi("/openapi.json", create_app(settings, qa=qa))


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/ask",
        "POST /v1/ask/stream",
        "GET /v1/search",
        "POST /v1/articles",
        "GET /v1/articles/{article_id}",
        "DELETE /v1/articles/{article_id}",
    }
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call(headers={"X-API-Key": ADMIN})
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, (where, response.status_code, response.text[:500])
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), (where, body)

        check()

"""OpenTelemetry (the ``otel`` extra): a request is a span, its SQL statements child spans."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from stratabase.db.session import Database
from stratabase.observability import tracing
from stratabase.settings import Settings
from tests.acceptance.api_support import make_api


async def test_requests_and_sql_are_traced(settings: Settings, db: Database) -> None:
    exporter = InMemorySpanExporter()
    assert tracing.configure("", exporter=exporter)
    try:
        async for api in make_api(settings, db):
            response = await api.http.get("/v1/categories", headers={"X-Request-ID": "trace-1"})
            assert response.status_code == 200
    finally:
        tracing.disable()
    spans = exporter.get_finished_spans()
    http = [span for span in spans if span.name == "HTTP GET /v1/categories"]
    assert len(http) == 1
    request = http[0]
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/v1/categories"
    assert request.attributes["http.status_code"] == 200
    assert request.attributes["stratabase.request_id"] == "trace-1"
    sql = [span for span in spans if span.name == "SQL"]
    assert sql, "the request's statements are spans"
    assert any(
        span.parent is not None and span.parent.span_id == request.context.span_id for span in sql
    )
    assert not tracing.enabled()

"""OpenTelemetry traces of requests, SQL statements and jobs (the optional ``otel`` extra).

Off unless ``STRATABASE_OTEL_EXPORTER`` is ``otlp`` (OTLP over HTTP, configured by the
standard ``OTEL_EXPORTER_OTLP_*`` variables; needs ``pip install stratabase[otel]``) or
``console``. Off, every hook is one module-global check. On, a request is a span
(``HTTP GET /v1/posts/{post_id}``), each SQL statement a child span recorded after the fact
with its real start and end, and each job run a span (``job <task>``) carrying the request
id that enqueued it. Cache lookups are not traced yet.

The provider is this module's own, not the global one: a host application's tracing is
left alone.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["configure", "disable", "enabled", "record_span", "span"]

logger = logging.getLogger("stratabase.observability.tracing")

_tracer: Any = None
_provider: Any = None


def enabled() -> bool:
    """Whether spans are being made."""
    return _tracer is not None


def configure(exporter_name: str, service_name: str = "stratabase", exporter: Any = None) -> bool:
    """Start tracing with the named exporter (``otlp``, ``console``) or the given one (a
    ``SpanExporter``, exported synchronously: tests). False (and a warning) when the
    OpenTelemetry SDK is not installed; does nothing with neither."""
    global _tracer, _provider
    if exporter is None and not exporter_name:
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError:
        logger.warning("STRATABASE_OTEL_EXPORTER is set but the OpenTelemetry SDK is not "
                       "installed: pip install 'stratabase[otel]'")  # fmt: skip
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif exporter_name == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        try:  # the otel extra (not a dev dependency: imported by name)
            otlp = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        except ImportError:
            logger.warning("the OTLP exporter is not installed: pip install 'stratabase[otel]'")
            return False
        provider.add_span_processor(BatchSpanProcessor(otlp.OTLPSpanExporter()))
    _provider = provider
    _tracer = provider.get_tracer("stratabase")
    return True


def disable() -> None:
    """Stop tracing (spans still buffered are exported first)."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


@contextmanager
def span(name: str, attributes: dict[str, Any] | None = None) -> Iterator[Any]:
    """A span around the block (the current span's child); yields None when tracing is off."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


def record_span(name: str, elapsed_seconds: float, attributes: dict[str, Any]) -> None:
    """A finished span that started ``elapsed_seconds`` ago and ends now (SQL statements:
    timed by the query monitor, recorded once they are done)."""
    tracer = _tracer
    if tracer is None:
        return
    end = time.time_ns()
    started = tracer.start_span(
        name, start_time=end - int(elapsed_seconds * 1e9), attributes=attributes
    )
    started.end(end_time=end)

"""OpenTelemetry spans, recorded and exported over OTLP/HTTP in batches when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set (e.g. the collector in front of Jaeger).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

tracer = trace.get_tracer("wcx")

FRAMEWORK_TELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False}
"""`FastAPI(telemetry=...)` for every app: the gateway middleware already records one span, one log line
and the design's metrics per request; FastAPI's native telemetry would add a second span tree and its
own metrics, and even switched off by default it checks the global providers on every request."""


def configure_tracing(endpoint: str, service_name: str = "wcx") -> bool:
    """Export spans to `endpoint` over OTLP/HTTP; True when this call installed the exporter.

    Without an endpoint nothing is installed: spans stay non-recording (about a sixth of a request's
    CPU when recorded for nobody), and logs carry an empty trace id unless a caller propagates one.
    """
    if not endpoint or tracing_enabled():
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return True


def tracing_enabled() -> bool:
    """Whether spans are recorded (a provider is installed); without one a span is pure overhead."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def current_trace_id() -> str:
    """The current span's trace id as 32 hex digits, or '' outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""

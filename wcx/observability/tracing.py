"""OpenTelemetry spans: always created (so logs carry a real trace id), exported over OTLP/HTTP
in batches when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (e.g. the collector in front of Jaeger).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

tracer = trace.get_tracer("wcx")


def configure_tracing(endpoint: str, service_name: str = "wcx") -> bool:
    """Install the SDK tracer provider once; True when spans are exported to `endpoint`."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if endpoint:
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return bool(endpoint)


def current_trace_id() -> str:
    """The current span's trace id as 32 hex digits, or '' outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""

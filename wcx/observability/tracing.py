"""OpenTelemetry spans: always created (so logs carry a real trace id), exported over OTLP when possible.

The OTLP exporter package (`opentelemetry-exporter-otlp`) is not a dependency. When
`OTEL_EXPORTER_OTLP_ENDPOINT` is set and the package is importable, spans are exported in
batches; otherwise they are recorded nowhere (tracing is a no-op apart from the ids).
"""

from __future__ import annotations

import importlib
import logging

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

logger = logging.getLogger(__name__)

_EXPORTER_MODULE = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
tracer = trace.get_tracer("wcx")


def configure_tracing(endpoint: str, service_name: str = "wcx") -> bool:
    """Install the SDK tracer provider once; True when spans are exported to `endpoint`."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    exporting = False
    if endpoint:
        try:
            module = importlib.import_module(_EXPORTER_MODULE)
        except ImportError:
            logger.warning(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp is not installed; "
                "spans are not exported"
            )
        else:
            exporter = module.OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
            provider.add_span_processor(BatchSpanProcessor(exporter))
            exporting = True
    trace.set_tracer_provider(provider)
    return exporting


def current_trace_id() -> str:
    """The current span's trace id as 32 hex digits, or '' outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""

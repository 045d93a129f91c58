"""The operations endpoints every wcx listener serves (/healthz, /readyz, /metrics), and the ops-only app
that roles without a public API (engine, wallet) serve on API_PORT for probes and Prometheus."""

from __future__ import annotations

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

from wcx.observability.metrics import render_metrics
from wcx.observability.tracing import FRAMEWORK_TELEMETRY_OFF
from wcx.runtime import Runtime


def add_ops_routes(app: FastAPI, runtime: Runtime) -> None:
    """Liveness, readiness (journal recovered, database answering) and the Prometheus exposition."""

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get(
        "/readyz", tags=["ops"], responses={503: {"description": "journal not recovered or database down"}}
    )
    async def readyz() -> JSONResponse:
        """The journal is recovered and the database answers."""
        checks = {"journal": runtime.recovered, "database": await runtime.database_ready()}
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus exposition of every metric in the process."""
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)


def create_ops_app(runtime: Runtime) -> FastAPI:
    """An app with only the operations endpoints (roles engine and wallet)."""
    app = FastAPI(
        telemetry=FRAMEWORK_TELEMETRY_OFF, title="wcx ops", openapi_url=None, docs_url=None, redoc_url=None
    )
    app.state.runtime = runtime
    add_ops_routes(app, runtime)
    return app

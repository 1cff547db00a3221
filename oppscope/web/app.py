"""The HTTP face of oppscope: ``create_app(settings)`` wires routes, middleware and error handlers.

Only logging is configured when the factory is called (each server worker calls it); the state database is
checked, the stores opened, the engine loaded and the telemetry sampler started in the lifespan. An unmigrated
state database stops the start with a message naming the fix (`oppscope db upgrade`); a missing or broken history
does not: the app starts and ``/health/ready`` says 503, so an operator can see why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from oppscope import __version__
from oppscope.config import Settings, load_settings
from oppscope.ops.logging import configure_logging
from oppscope.ops.metrics import Telemetry
from oppscope.web import telemetry as web_telemetry
from oppscope.web.errors import install_error_handlers
from oppscope.web.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from oppscope.web.telemetry import TelemetryMiddleware

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; without ``settings`` they come from the profile and ``OPPSCOPE_*`` variables."""
    resolved = settings or load_settings()
    configure_logging(resolved)  # here, not in the lifespan: each worker builds its app before it logs anything
    telemetry = Telemetry(resolved) if resolved.metrics_enabled else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from oppscope.access.ratelimit import RateLimiter
        from oppscope.access.tokens import TokenStore
        from oppscope.analyses.cache import AnalysisCache
        from oppscope.analyses.service import AnalysisService, EngineHolder
        from oppscope.analyses.sql_store import SqlAnalysisStore
        from oppscope.state.db import state_engine
        from oppscope.state.migrate import require_current
        from oppscope.web.context import AppContext
        from oppscope.web.health import backends_up

        with state_engine(resolved) as state:
            require_current(state)
            engines = EngineHolder(resolved)
            await run_in_threadpool(engines.load)
            context = AppContext(
                settings=resolved,
                engines=engines,
                service=AnalysisService(
                    SqlAnalysisStore(state), engines, AnalysisCache.from_settings(resolved), telemetry
                ),
                tokens=TokenStore(state),
                limiter=RateLimiter(resolved.rate_limit_per_minute, resolved.rate_limit_burst),
            )
            app.state.context = context
            if telemetry is not None:
                await run_in_threadpool(telemetry.start, lambda: backends_up(context))
            try:
                yield
            finally:
                if telemetry is not None:
                    telemetry.stop()

    app = FastAPI(
        title="oppscope",
        version=__version__,
        summary="Size a new cloud opportunity from the projects a partner already delivered.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=resolved.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, hsts=resolved.secure_cookies)
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)  # outermost: it times and sees every answer

    from oppscope.web import api, compat, docs, health, pages

    app.include_router(docs.router)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(compat.router)
    app.include_router(pages.router)
    if telemetry is not None:
        app.include_router(web_telemetry.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app

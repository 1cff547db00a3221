"""The HTTP face of oppscope: ``create_app(settings)`` wires routes, middleware and error handlers.

Only logging is configured when the factory is called (each server worker calls it); the state database is
checked, the stores opened, the engine loaded and the telemetry sampler started in the lifespan. An unmigrated
state database stops the start with a message naming the fix (`oppscope db upgrade`); a missing or broken history
does not: the app starts and ``/health/ready`` says 503, so an operator can see why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from oppscope import __version__
from oppscope.access.ratelimit import RateLimiter
from oppscope.config import Settings, load_settings
from oppscope.ops.logging import configure_logging
from oppscope.web import api, compat, docs, health, pages, telemetry
from oppscope.web.assets import STATIC_DIR, STATIC_PREFIX
from oppscope.web.compat.cors import CompatCorsMiddleware
from oppscope.web.context import AppContext
from oppscope.web.errors import install_error_handlers
from oppscope.web.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from oppscope.wiring import open_services


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; without ``settings`` they come from the profile and ``OPPSCOPE_*`` variables."""
    resolved = settings or load_settings()
    configure_logging(resolved)  # here, not in the lifespan: each worker builds its app before it logs anything

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with open_services(resolved) as services:
            services.require_migrated()
            await run_in_threadpool(services.engines.load)
            app.state.context = AppContext(
                services=services,
                limiter=RateLimiter(resolved.rate_limit_per_minute, resolved.rate_limit_burst),
            )
            if services.metrics is not None:
                await run_in_threadpool(services.metrics.start, services.checks)
            try:
                yield
            finally:
                if services.metrics is not None:
                    services.metrics.stop()

    app = FastAPI(
        title="oppscope",
        version=__version__,
        summary="Size a new cloud opportunity from the projects a partner already delivered.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by web.docs, which honours api_docs_public
    )
    install_error_handlers(app)
    if resolved.cors_allow_origins:  # innermost of the three, so preflight answers get the security headers too
        app.add_middleware(CompatCorsMiddleware, allow_origins=resolved.cors_allow_origins)
    app.add_middleware(BodyLimitMiddleware, max_bytes=resolved.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, hsts=resolved.secure_cookies)
    app.add_middleware(telemetry.TelemetryMiddleware)  # outermost: it times and sees every answer

    app.include_router(docs.router)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(compat.router)
    app.include_router(pages.router)
    if resolved.metrics_enabled:
        app.include_router(telemetry.router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
    return app

"""The HTTP face of oppscope: ``create_app(settings)`` wires routes, middleware and error handlers.

Nothing happens at import or when the factory is called: the state database is checked, the stores opened and
the engine loaded in the lifespan. An unmigrated state database stops the start with a message naming the fix
(`oppscope db upgrade`); a missing or broken history does not: the app starts and ``/health/ready`` says 503,
so an operator can see why.
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
from oppscope.web.errors import install_error_handlers
from oppscope.web.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; without ``settings`` they come from the profile and ``OPPSCOPE_*`` variables."""
    resolved = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from oppscope.access.ratelimit import RateLimiter
        from oppscope.access.tokens import TokenStore
        from oppscope.analyses.service import AnalysisService
        from oppscope.analyses.sql_store import SqlAnalysisStore
        from oppscope.engines.holder import EngineHolder
        from oppscope.state.db import state_engine
        from oppscope.state.migrate import require_current
        from oppscope.web.context import AppContext

        with state_engine(resolved) as state:
            require_current(state)
            engines = EngineHolder(resolved)
            await run_in_threadpool(engines.load)
            app.state.context = AppContext(
                settings=resolved,
                engines=engines,
                service=AnalysisService(SqlAnalysisStore(state), engines),
                tokens=TokenStore(state),
                limiter=RateLimiter(resolved.rate_limit_per_minute, resolved.rate_limit_burst),
            )
            try:
                yield
            finally:
                engines.close()  # stops the worker's switch timer

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

    from oppscope.web import api, compat, docs, health, pages

    app.include_router(docs.router)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(compat.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app

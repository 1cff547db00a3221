"""The original system's ``POST /api/analyze`` contract: request parsing, report text, response shape, routes."""

from oppscope.web.compat.routes import router

__all__ = ["router"]

"""Interactive API documentation: Swagger UI 5, vendored under ``static/vendor/swagger-ui``.

FastAPI's built-in ``/docs`` loads Swagger UI from a CDN and starts it with an inline script; oppscope works
without network and its Content-Security-Policy forbids inline scripts, so the assets are served from the
package and the start-up code is a script of its own. (Swagger UI 5 because 4 cannot read OpenAPI 3.1, which
FastAPI writes.)
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from oppscope.access.scopes import Scope
from oppscope.web.context import Context, authorize


def _docs_access(request: Request, context: Context) -> None:
    """Open where ``api_docs_public`` says so (development); otherwise a reader's token or session."""
    if not context.settings.api_docs_public:
        authorize(request, context, Scope.read, allow_cookie=True)


router = APIRouter(include_in_schema=False, dependencies=[Depends(_docs_access)])

_ASSETS = "/static/vendor/swagger-ui"
_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>oppscope API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{_ASSETS}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{_ASSETS}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""

_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""

# Swagger UI sets style attributes while it renders; everything else stays as strict as on other pages.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@router.get("/docs")
def docs() -> HTMLResponse:
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": _CSP})


@router.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs/init.js")
def docs_init() -> Response:
    return Response(_INIT, media_type="text/javascript")

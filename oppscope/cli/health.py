"""``oppscope health``: is the service ready? Exits 0 when it is, 1 when a check fails.

By default the checks run in this process, built from the same wiring as the server (the history, the state
database and its schema, the disk, and, without ``--quick``, the analysis engine). With ``--url`` the question
goes to a running server instead: ``/health/ready`` (``/health/live`` with ``--quick``), with ``--token`` for
the details that staging and production keep for the ``ops`` scope.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oppscope.cli.context import CliState, with_state
from oppscope.cli.output import EXIT_FAILURE, Output
from oppscope.errors import ErrorKind, OppscopeError

if TYPE_CHECKING:
    from oppscope.config import Settings

QuickOption = Annotated[bool, typer.Option("--quick", help="Skip the slow checks (loading the engine).")]
UrlOption = Annotated[
    str | None, typer.Option("--url", help="Ask a running server, e.g. http://127.0.0.1:8000.", show_default=False)
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="OPPSCOPE_TOKEN", help="Bearer token (scope ops) for --url.", show_default=False),
]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=0.1, max=600, help="Seconds to wait for --url.")]


@with_state()
def health(
    state: CliState,
    quick: QuickOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Check the service's dependencies; exit 1 when one fails."""
    body = _remote(url, token, quick=quick, timeout=timeout) if url else _local(state.settings(), quick=quick)
    _show(state.output, body)
    if body["status"] not in ("ready", "ok"):
        raise typer.Exit(EXIT_FAILURE)


def _local(settings: Settings, *, quick: bool) -> dict[str, Any]:
    from oppscope.ops.health import run_checks
    from oppscope.wiring import open_services

    with open_services(settings) as services:
        if not quick:
            services.engines.load()  # a failure is kept by the holder and reported by its check
        result = run_checks([check for check in services.checks if not (quick and check.slow)])
    return {"status": "ready" if result.ready else "not_ready", "failing": result.failing, "checks": result.checks}


def _remote(url: str, token: str | None, *, quick: bool, timeout: float) -> dict[str, Any]:
    target = url.rstrip("/") + ("/health/live" if quick else "/health/ready")
    request = urllib.request.Request(target, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            raise OppscopeError(
                "health_refused",
                f"{target} answered {exc.code}",
                {"url": target, "status": exc.code},
                kind=ErrorKind.unauthorized if exc.code == 401 else ErrorKind.unavailable,
            ) from None
        answer = json.loads(exc.read())
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise OppscopeError(
            "server_unreachable", f"cannot reach {target}: {exc}", {"url": target}, kind=ErrorKind.unavailable
        ) from None
    return answer


def _show(out: Output, body: dict[str, Any]) -> None:
    if out.json_mode:
        out.json(body)
        return
    out.console.print(f"status: {body['status']}")
    checks: dict[str, dict[str, Any]] = body.get("checks", {})
    if checks:
        out.table(
            None,
            ("check", "status", "latency ms", "detail"),
            ((name, check["status"], check.get("latency_ms", ""), _detail(check)) for name, check in checks.items()),
            right_align=(2,),
        )


def _detail(check: dict[str, Any]) -> str:
    error = check.get("error")
    if isinstance(error, dict):
        return f"{error.get('code')}: {error.get('message')}"
    return ", ".join(f"{k}={v}" for k, v in check.items() if k not in ("status", "latency_ms"))

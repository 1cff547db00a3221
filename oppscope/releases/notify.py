"""Deployment notices for a webhook: what changed, when, and where.

The body carries ``text`` (what Slack-style incoming webhooks show) beside the structured fields, so a chat
channel and a receiving service take the same POST. Delivery is ``oppscope.ops.notify.send``: the alerts' own
retries (transport errors, 429 and 5xx with backoff; a 4xx is final).
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

from oppscope.errors import ErrorKind, OppscopeError
from oppscope.ops import notify
from oppscope.releases.events import Event

_HEADLINES: dict[Event, str] = {
    Event.deployed: "deployed",
    Event.rolled_back: "rolled back",
    Event.failed: "deploy failed; nothing switched",
    Event.started: "deploy started",
}


class NotifyFailedError(OppscopeError):
    default_kind = ErrorKind.unavailable


def notice(
    event: Event,
    release: str | None,
    replaced: str | None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    host = socket.gethostname()
    serving, before = release or "the installed oppscope", replaced or "the installed oppscope"
    text = f"oppscope on {host}: {_HEADLINES[event]} (now serving {serving}; before: {before})"
    return {
        "text": text,
        "event": event.value,
        "service": "oppscope",
        "host": host,
        "release": release,
        "replaced": replaced,
        "at": (now or datetime.now(UTC)).isoformat(),
        "details": details or {},
    }


def notify_event(
    url: str, event: Event, release: str | None, replaced: str | None, details: dict[str, Any] | None = None
) -> notify.Delivery:
    try:
        return notify.send(url, notice(event, release, replaced, details))
    except notify.NotifyError as exc:
        raise NotifyFailedError(
            "notify_failed", exc.message, {"url": url, "attempts": exc.attempts, "status": exc.status}
        ) from exc

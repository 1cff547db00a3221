"""Deployment notices for a webhook: what changed, when, and where.

The body carries ``text`` (what Slack-style incoming webhooks show) beside the structured fields, so a chat
channel and a receiving service take the same POST. Delivery is ``oppscope.ops.notify.send``: the alerts' own
retries (transport errors, 429 and 5xx with backoff; a 4xx is final).
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from oppscope.config import Settings
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


def shown(url: str) -> str:
    """A webhook as it may be printed: its host, not the path or query that carry its token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"


def webhook_url(settings: Settings, given: str | None) -> str | None:
    """Where a notice goes: the URL given, else ``deploy_webhook_url``, else the alerts' webhook. The settings are
    secrets (a webhook URL carries its token), so their value is read here and nowhere printed."""
    candidates: tuple[str | SecretStr | None, ...] = (given, settings.deploy_webhook_url, settings.alert_webhook_url)
    for candidate in candidates:
        value = candidate.get_secret_value() if isinstance(candidate, SecretStr) else candidate
        if value:
            if not value.startswith(("http://", "https://")):
                raise NotifyFailedError("invalid_webhook", "a webhook must be an http(s) URL", kind=ErrorKind.invalid)
            return value
    return None


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
            "notify_failed",
            exc.message.replace(url, shown(url)),  # httpx names the URL, and with it the webhook's token
            {"webhook": shown(url), "attempts": exc.attempts, "status": exc.status},
        ) from exc

"""Webhook notifications for firing alerts, in the two shapes receivers understand without glue code.

``alertmanager`` is the body Alertmanager's own webhook receiver posts (version 4), so anything that takes
Alertmanager webhooks (incident tools, chat bridges, a custom receiver) takes ours; ``slack`` is an incoming
webhook message (``text`` plus Block Kit sections), which Slack and its look-alikes (Mattermost, Rocket.Chat)
accept. A receiver that is briefly down or answers 429/5xx is retried with backoff; a 4xx is final.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from tenacity import RetryError, retry, retry_if_exception, stop_after_attempt, wait_exponential

from oppscope.ops.alerts import AlertState, Signal

WebhookFormat = Literal["alertmanager", "slack"]
_NEVER = "0001-01-01T00:00:00Z"  # Alertmanager's "no end yet"


class NotifyError(Exception):
    def __init__(self, message: str, attempts: int, status: int | None = None) -> None:
        super().__init__(message)
        self.message, self.attempts, self.status = message, attempts, status


@dataclass(frozen=True)
class Delivery:
    url: str  # scheme and host only: the rest of a webhook's URL is its secret
    status: int
    attempts: int
    alerts: int


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _alert_labels(state: AlertState) -> list[dict[str, str]]:
    """One label set per alert instance: a down backend is an alert of its own, as in Prometheus."""
    base = {"alertname": state.rule.name, **state.rule.labels()}
    return [base | {"backend": b} for b in state.backends] if state.backends else [base]


def alertmanager_payload(states: Sequence[AlertState], external_url: str, now: datetime) -> dict[str, Any]:
    alerts = []
    for state in states:
        annotations = state.rule.annotations()
        for labels in _alert_labels(state):
            fingerprint = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
            summary = annotations["summary"].replace("{{ $labels.backend }}", labels.get("backend", ""))
            alerts.append(
                {
                    "status": "firing" if state.firing else "resolved",
                    "labels": labels,
                    "annotations": annotations | {"summary": summary, "value": value_text(state)},
                    "startsAt": _iso(now),
                    "endsAt": _NEVER if state.firing else _iso(now),
                    "generatorURL": external_url,
                    "fingerprint": fingerprint,
                }
            )
    common = {"service": "oppscope"}
    return {
        "version": "4",
        "groupKey": '{}:{service="oppscope"}',
        "truncatedAlerts": 0,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": "oppscope",
        "groupLabels": common,
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": external_url,
        "alerts": alerts,
    }


def value_text(state: AlertState) -> str:
    """The measured value as the alert's reader wants it: a percentage, seconds, or which backends are down."""
    if state.rule.signal is Signal.backend_down:
        return "down: " + ", ".join(state.backends) if state.backends else "all up"
    if state.value is None:
        return "no data"
    return f"{state.value:.3f} s" if state.rule.signal is Signal.p95 else f"{state.value * 100:.2f}%"


def slack_payload(states: Sequence[AlertState], external_url: str) -> dict[str, Any]:
    firing = [s for s in states if s.firing]
    headline = f"oppscope: {len(firing)} alert{'s' if len(firing) != 1 else ''} firing" if firing else "oppscope: ok"
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": headline}}]
    for state in states:
        mark = ":red_circle:" if state.rule.severity.value == "critical" else ":large_orange_circle:"
        text = (
            f"{mark if state.firing else ':white_check_mark:'} *{state.rule.name}* ({state.rule.severity.value}): "
            f"{state.rule.summary} — {state.rule.description}; now {value_text(state)}"
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{external_url}|Operations dashboard>"}]}
    )
    return {"text": headline, "blocks": blocks}


def payload(
    states: Sequence[AlertState], fmt: WebhookFormat, external_url: str, now: datetime | None = None
) -> dict[str, Any]:
    if fmt == "slack":
        return slack_payload(states, external_url)
    return alertmanager_payload(states, external_url, now or datetime.now(UTC))


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


def send(url: str, body: dict[str, Any], *, attempts: int = 4, timeout_s: float = 5.0, alerts: int = 0) -> Delivery:
    """POST ``body`` as JSON, retrying transport failures, 429 and 5xx with exponential backoff."""
    tries = 0

    @retry(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.2, max=3),
        reraise=False,
    )
    def post(client: httpx.Client) -> httpx.Response:
        nonlocal tries
        tries += 1
        response = client.post(url, json=body)
        response.raise_for_status()
        return response

    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        try:
            response = post(client)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            status = last.response.status_code if isinstance(last, httpx.HTTPStatusError) else None
            # httpx's messages quote the URL, whose path is the webhook's secret: name the failure only
            reason = f"HTTP {status}" if status else type(last).__name__
            raise NotifyError(f"the webhook failed after {tries} attempts: {reason}", tries, status) from last
        except httpx.HTTPStatusError as exc:
            raise NotifyError(
                f"the webhook refused the notification: HTTP {exc.response.status_code}",
                tries,
                exc.response.status_code,
            ) from exc
    return Delivery(redacted_url(url), response.status_code, tries, alerts)


def redacted_url(url: str) -> str:
    """What may be shown of a webhook's URL: its scheme and host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"

"""The webhook notifier against a real HTTP server on loopback: both payload shapes, retries, and giving up."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from oppscope.config import load_settings
from oppscope.ops.alerts import AlertState, alert_rules
from oppscope.ops.notify import NotifyError, payload, send


class Receiver:
    """A webhook receiver that answers ``failures`` times with ``fail_status`` before accepting."""

    def __init__(self, failures: int = 0, fail_status: int = 503) -> None:
        self.failures, self.fail_status = failures, fail_status
        self.bodies: list[Any] = []
        self.content_types: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.content_types.append(self.headers.get("content-type", ""))
                status = receiver.fail_status if len(receiver.bodies) <= receiver.failures else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    started: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs)
        threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.server.shutdown()
        receiver.server.server_close()


def states() -> list[AlertState]:
    rules = {rule.name: rule for rule in alert_rules(load_settings())}
    return [
        AlertState(rules["OppscopeErrorRateCritical"], True, 0.0812),
        AlertState(rules["OppscopeBackendDown"], True, 0.0, ["history"]),
        AlertState(rules["OppscopeLatencyHigh"], False, 1.5),
    ]


NOW = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)


def test_alertmanager_payload_is_delivered_in_alertmanagers_webhook_shape(receiver_factory: Any) -> None:
    receiver = receiver_factory()
    body = payload(states(), "alertmanager", "http://127.0.0.1:8000/ops", NOW)
    delivery = send(receiver.url, body)
    assert (delivery.status, delivery.attempts) == (200, 1)
    got = receiver.bodies[0]
    assert receiver.content_types[0] == "application/json"
    assert got["version"] == "4" and got["status"] == "firing" and got["externalURL"] == "http://127.0.0.1:8000/ops"
    by_name = {a["labels"]["alertname"]: a for a in got["alerts"]}
    critical = by_name["OppscopeErrorRateCritical"]
    assert critical["status"] == "firing" and critical["labels"]["severity"] == "critical"
    assert critical["annotations"]["value"] == "8.12%" and critical["startsAt"] == "2026-12-01T22:00:00Z"
    assert critical["endsAt"] == "0001-01-01T00:00:00Z"
    down = by_name["OppscopeBackendDown"]
    assert down["labels"]["backend"] == "history" and down["annotations"]["summary"] == "A backend is down (history)"
    assert by_name["OppscopeLatencyHigh"]["status"] == "resolved"
    assert all(
        {"labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"} <= a.keys()
        for a in got["alerts"]
    )


def test_slack_payload_names_each_alert(receiver_factory: Any) -> None:
    receiver = receiver_factory()
    send(receiver.url, payload(states(), "slack", "http://127.0.0.1:8000/ops"))
    got = receiver.bodies[0]
    assert got["text"] == "oppscope: 2 alerts firing"
    texts = [b["text"]["text"] for b in got["blocks"] if b["type"] == "section"]
    assert any("OppscopeErrorRateCritical" in t and "8.12%" in t for t in texts)
    assert any("OppscopeBackendDown" in t and "down: history" in t for t in texts)


def test_a_briefly_failing_receiver_gets_the_notification_on_a_retry(receiver_factory: Any) -> None:
    receiver = receiver_factory(failures=2)
    delivery = send(receiver.url, payload(states(), "alertmanager", "http://x/ops", NOW), attempts=4)
    assert (delivery.status, delivery.attempts) == (200, 3)
    assert len(receiver.bodies) == 3 and receiver.bodies[0] == receiver.bodies[2]


def test_a_receiver_that_stays_down_is_given_up_after_the_attempts(receiver_factory: Any) -> None:
    receiver = receiver_factory(failures=99)
    with pytest.raises(NotifyError) as raised:
        send(receiver.url, payload(states(), "slack", "http://x/ops"), attempts=3)
    assert (raised.value.attempts, raised.value.status) == (3, 503)
    assert len(receiver.bodies) == 3


def test_a_refusal_is_not_retried(receiver_factory: Any) -> None:
    receiver = receiver_factory(failures=99, fail_status=400)
    with pytest.raises(NotifyError) as raised:
        send(receiver.url, payload(states(), "slack", "http://x/ops"))
    assert (raised.value.attempts, raised.value.status) == (1, 400)


def test_an_unreachable_receiver_fails_after_retrying() -> None:
    with pytest.raises(NotifyError) as raised:
        send("http://127.0.0.1:9/hook", {"text": "x"}, attempts=2, timeout_s=1)
    assert raised.value.attempts == 2 and raised.value.status is None

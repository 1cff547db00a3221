"""``oppscope notify``: a deployment notice posted to a real loopback receiver, retried through a 503."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from oppscope.cli.main import app
from tests.ops.test_notify import Receiver, receiver_factory

__all__ = ["receiver_factory"]  # the fixture, shared with the alerts' notifier tests

runner = CliRunner()


def test_notify_posts_the_event_and_retries_a_503(tmp_path: Path, receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory(failures=1, fail_status=503)
    args = ["notify", "--event", "rolled_back", "--webhook", receiver.url, "--data-dir", str(tmp_path / "data")]
    result = runner.invoke(app, [*args, "--release", "20261202T000000Z-abc", "--json"])
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    assert (answer["event"], answer["status"], answer["attempts"]) == ("rolled_back", 200, 2)
    assert "/hook" not in result.output  # the path (where a webhook keeps its token) is never printed
    body = receiver.bodies[-1]
    assert (body["event"], body["release"], body["service"]) == ("rolled_back", "20261202T000000Z-abc", "oppscope")
    assert "rolled back" in body["text"] and body["at"]


def test_notify_refuses_a_4xx_and_needs_a_webhook(tmp_path: Path, receiver_factory: Callable[..., Receiver]) -> None:
    receiver = receiver_factory(failures=5, fail_status=503)
    result = runner.invoke(
        app, ["notify", "--event", "deployed", "--webhook", receiver.url, "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1 and "/hook" not in result.output and len(receiver.bodies) == 4  # retried, redacted
    receiver = receiver_factory(failures=5, fail_status=404)
    data = ["--data-dir", str(tmp_path / "data"), "--json"]
    result = runner.invoke(app, ["notify", "--event", "deployed", "--webhook", receiver.url, *data])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "notify_failed"
    assert len(receiver.bodies) == 1  # a 4xx is final
    result = runner.invoke(app, ["notify", "--event", "deployed", *data])
    assert (result.exit_code, json.loads(result.stdout)["error"]["code"]) == (2, "no_webhook")
    result = runner.invoke(app, ["notify", "--event", "exploded", "--webhook", receiver.url, *data])
    assert result.exit_code == 2

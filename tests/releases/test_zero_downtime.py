"""A real deploy and a real rollback under load, production profile: nginx, the supervisor, two releases' instances.

One fresh connection per request (``POST /api/v1/analyses``, ``GET /api/v1/history/stats`` with a bearer token)
and a slow-body POST always in flight: no connection error, no 5xx, both commands exit 0, a slow request spanning
each proxy switch completes. The new release carries an extra expand migration, so the installed (older) code
serves again on the migrated schema after the rollback.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.deploy import run
from tests.ops.test_notify import Receiver, receiver_factory

__all__ = ["receiver_factory"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),  # two installs and five instance starts: minutes on a loaded 2-core machine
    pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(), reason="needs nginx"),
]


def test_deploy_and_rollback_under_load_fail_no_request(
    tmp_path: Path, receiver_factory: Callable[..., Receiver]
) -> None:
    receiver = receiver_factory()
    hook = {"OPPSCOPE_DEPLOY_WEBHOOK_URL": receiver.url}
    report = run(tmp_path, rows=2000, workers=1, threads=2, failing_deploy=True, env=hook)
    deploy, rollback = report.deploy, report.rollback
    assert report.deploy_exit == 0, json.dumps(deploy, indent=1)[-4000:]
    assert report.rollback_exit == 0, json.dumps(rollback, indent=1)[-4000:]
    assert report.failed == 0, report.failures
    assert report.by_kind["post"] >= 5 and report.by_kind["stats"] >= 5
    assert report.switches == 4  # deploy, rollback, and the failing deploy's switch and its automatic way back
    assert report.slow_across_switch >= 1

    steps = {s["name"]: s for s in deploy["steps"]}
    order = ["install", "preflight.connectivity", "preflight.infrastructure", "migrate", "start", "gate", "switch"]
    order += ["retire", "check.e2e", "check.performance", "links"]
    assert [s["name"] for s in deploy["steps"] if s["name"] in order] == order
    assert all(steps[name]["status"] == "ok" for name in order)
    assert steps["migrate"]["data"]["output"]["applied"] == ["0002"]
    assert steps["preflight.backup"]["status"] == "ok"  # the release's own `oppscope backup create`, for real
    assert list((tmp_path / "backups").glob("*/manifest.json"))
    assert deploy["replaced"] is None and deploy["release"] and not deploy["rolled_back"]
    assert rollback["release"] is None and rollback["replaced"] == deploy["release"]
    assert [s["name"] for s in rollback["steps"]] == ["start", "gate", "switch", "retire", "links", "notify"]
    # the installed (older) code serves again on the schema the new release migrated: 0002 is an expand migration
    schema = report.schema_after_rollback
    assert (schema["current"], schema["required"], schema["compatible"], schema["newer"]) == (
        "0002",
        "0001",
        True,
        ["0002"],
    )

    listed = json.loads((tmp_path / "releases" / deploy["release"] / "release.json").read_text())
    assert listed["schema_head"] == "0002"
    assert (tmp_path / "releases" / "previous").readlink().name == deploy["release"]
    assert not (tmp_path / "releases" / "current").is_symlink()  # back on the installed oppscope

    # a deploy whose post-deployment check fails rolls back by itself, says so, exits 1, and fails no request
    failing = report.failing_deploy
    assert failing is not None and report.failing_deploy_exit == 1
    assert failing["rolled_back"] is True and failing["release"] is None
    assert failing["error"]["code"] == "performance_failed"
    names = [s["name"] for s in failing["steps"]]
    assert names[-4:] == ["rollback.start", "rollback.switch", "rollback.retire", "notify"]
    # every command sent its notice by itself, through the deploy webhook setting
    assert [b["event"] for b in receiver.bodies] == ["deployed", "rolled_back", "rolled_back"]
    assert receiver.bodies[0]["release"] == deploy["release"] and receiver.bodies[1]["release"] is None
    assert not (tmp_path / "releases" / "current").is_symlink()

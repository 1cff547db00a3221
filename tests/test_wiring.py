"""``build_services``: one place builds every backend, each chosen by a setting that refuses unknown names."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from oppscope.access.sql_tokens import SqlTokenStore
from oppscope.analyses.sql_store import SqlAnalysisStore
from oppscope.config import load_settings
from oppscope.ops.health import run_checks
from oppscope.state.migrate import upgrade
from oppscope.wiring import build_services, open_services


@pytest.mark.parametrize("setting", ["history_backend", "analysis_store_backend", "token_backend"])
def test_an_unknown_backend_is_refused_when_the_settings_are_read(setting: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=setting):
        load_settings(data_dir=tmp_path, **{setting: "nosuch"})


def test_the_default_backends_and_their_checks(tmp_path: Path) -> None:
    services = build_services(load_settings(data_dir=tmp_path, load_sample_if_empty=False))
    try:
        assert isinstance(services.analysis_store, SqlAnalysisStore)
        assert isinstance(services.tokens, SqlTokenStore)
        assert services.analyses.store is services.analysis_store
        assert [c.name for c in services.checks] == ["history", "analysis_engine", "state_database", "disk"]
        before = run_checks(services.checks)
        assert set(before.failing) == {"history", "analysis_engine", "state_database"}
        assert before.checks["state_database"]["error"]["code"] == "state_not_migrated"
        upgrade(services.state)
        assert "state_database" not in run_checks(services.checks).failing
    finally:
        services.close()


def test_the_disk_check_fails_below_its_threshold(tmp_path: Path) -> None:
    with open_services(load_settings(data_dir=tmp_path / "not-yet", disk_free_min_percent=100)) as services:
        disk = run_checks([c for c in services.checks if c.name == "disk"])
    assert disk.failing == ["disk"]
    assert disk.checks["disk"]["status"] == "low"
    assert disk.checks["disk"]["min_free_percent"] == 100

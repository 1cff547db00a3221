"""``oppscope config``: profiles, precedence, secrets and the applied file, on real files in temporary directories.

Most tests drive Typer's runner on ``app``; the secrets test runs the installed command in a subprocess, so what
it greps is everything a person or a log collector would see: stdout, stderr and the JSON log file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner, Result

from oppscope.cli.main import app
from oppscope.config import SECRET_FIELDS, Settings, load_settings

runner = CliRunner()
TODAY = datetime.now(UTC).date().isoformat()
WEBHOOK_SECRET = "https://hooks.example.test/services/T000/B000/s3cr3t-webhook-token"
DB_PASSWORD = "pa55-w0rd-not-for-eyes"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No setting from the machine running the tests; structlog's defaults back after each test."""
    for variable in list(os.environ):
        if variable.startswith("OPPSCOPE_"):
            monkeypatch.delenv(variable)
    yield
    structlog.reset_defaults()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    return tmp_path


def invoke(root: Path, *args: str | Path, profile: str | None = None) -> Result:
    extra = ["--profile", profile] if profile else []
    return runner.invoke(app, [*map(str, args), "--data-dir", str(root / "data"), *extra], catch_exceptions=False)


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def applied(root: Path) -> Path:
    return root / "config" / "oppscope.toml"


# --- profiles and precedence ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "level", "cache", "monitoring", "resources", "workers", "memory_mb"),
    [
        ("development", "debug", False, "basic", "minimal", 1, 2048),
        ("staging", "info", True, "full", "standard", 2, 4096),
        ("production", "warning", True, "full", "optimized", 4, 8192),
    ],
)
def test_each_profile_is_the_seeds_row(
    root: Path, profile: str, level: str, cache: bool, monitoring: str, resources: str, workers: int, memory_mb: int
) -> None:
    result = invoke(root, "config", "show", "--json", profile=profile)
    body = as_json(result)
    values = {name: row["value"] for name, row in body["settings"].items()}
    assert (values["log_level"], values["analysis_cache_enabled"], values["monitoring"], values["resources"]) == (
        level,
        cache,
        monitoring,
        resources,
    )
    assert body["derived"]["worker_count"] == workers and body["derived"]["memory_mb"] == memory_mb
    assert body["settings"]["resources"]["source"] == "profile"


def test_cli_beats_environment_beats_file_beats_profile_beats_default(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / "config").mkdir()
    applied(root).write_text('log_level = "error"\nport = 9001\nanalog_count = 40\n')
    monkeypatch.setenv("OPPSCOPE_PORT", "9002")
    body = as_json(invoke(root, "config", "show", "--json", profile="staging"))["settings"]
    assert (body["port"]["value"], body["port"]["source"], body["port"]["detail"]) == (9002, "env", "OPPSCOPE_PORT")
    assert (body["log_level"]["value"], body["log_level"]["source"]) == ("error", "file")
    assert body["log_level"]["detail"] == str(applied(root))
    assert (body["analog_count"]["value"], body["profile"]["source"]) == (40, "cli")
    assert (body["require_auth"]["value"], body["require_auth"]["source"]) == (True, "profile")
    assert (body["host"]["value"], body["host"]["source"]) == ("127.0.0.1", "default")
    # what every other command loads is what show reports
    loaded = load_settings(profile="staging", data_dir=root / "data")
    assert (loaded.port, loaded.log_level, loaded.analog_count) == (9002, "error", 40)
    assert load_settings(profile="staging", data_dir=root / "data", port=9003).port == 9003


def test_diff_between_profiles_and_from_current(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    changes = as_json(invoke(root, "config", "diff", "--from", "staging", "--to", "production", "--json"))["changes"]
    assert changes["log_level"] == {
        "from": "info",
        "to": "warning",
        "from_source": changes["log_level"]["from_source"],
        "to_source": changes["log_level"]["to_source"],
    }
    assert changes["resources"]["from"] == "standard" and changes["resources"]["to"] == "optimized"
    assert "monitoring" not in changes and "analysis_cache_enabled" not in changes  # full and on in both

    monkeypatch.setenv("OPPSCOPE_ANALOG_COUNT", "50")
    body = as_json(invoke(root, "config", "diff", "--from", "current", "--to", "production", "--json"))
    assert body["from"] == "current (development)"
    assert body["changes"]["monitoring"]["from"] == "basic" and "analog_count" not in body["changes"]

    refused = invoke(root, "config", "diff", "--from", "prod", "--json")
    assert refused.exit_code == 2 and as_json(refused)["error"]["code"] == "invalid_input"


# --- validate -------------------------------------------------------------------------------------------------


def test_a_fresh_production_machine_validates_with_warnings_only(root: Path) -> None:
    result = invoke(root, "config", "validate", "--json", profile="production")
    body = as_json(result)
    assert result.exit_code == 0 and body["ok"] and body["errors"] == []
    assert "no_alert_webhook" in {w["code"] for w in body["warnings"]}
    assert invoke(root, "db", "upgrade").exit_code == 0
    body = as_json(invoke(root, "config", "validate", "--json", profile="production"))
    assert body["ok"] and "no_state_database" not in {w["code"] for w in body["warnings"]}


def test_every_problem_is_one_message_and_an_error_exits_1(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (root / "blocker").write_text("a file where a directory should be")
    monkeypatch.setenv("OPPSCOPE_REQUIRE_AUTH", "false")
    monkeypatch.setenv("OPPSCOPE_RELEASES_DIR", str(root / "blocker" / "releases"))
    monkeypatch.setenv("OPPSCOPE_BACKUP_DIR", str(root / "data" / "backups"))
    monkeypatch.setenv("OPPSCOPE_STATE_URL", f"sqlite:///{root}/no/such/dir/state.sqlite")
    monkeypatch.setenv("OPPSCOPE_LOGLEVEL", "debug")
    monkeypatch.setenv("OPPSCOPE_METRICS_ENABLED", "false")
    result = invoke(root, "config", "validate", "--json", profile="production")
    body = as_json(result)
    assert result.exit_code == 1 and not body["ok"]
    errors = {e["code"]: e for e in body["errors"]}
    assert set(errors) == {"auth_required", "path_not_writable", "backups_inside_data", "state_unreachable"}
    assert (
        errors["path_not_writable"]["setting"] == "releases_dir"
        and "is not a directory" in errors["path_not_writable"]["message"]
    )
    assert errors["auth_required"]["source"] is None and errors["auth_required"]["setting"] == "require_auth"
    assert "no/such" not in json.dumps(errors["state_unreachable"])  # the URL may carry a password: never echoed
    typo = next(w for w in body["warnings"] if w["code"] == "unknown_variable")
    assert "did you mean OPPSCOPE_LOG_LEVEL" in typo["message"] and typo["source"] == "env OPPSCOPE_LOGLEVEL"
    assert "monitoring_off" in {w["code"] for w in body["warnings"]}

    text = invoke(root, "config", "validate", profile="production")
    assert text.exit_code == 1 and "production: configuration INVALID (4 errors" in text.stdout
    assert "error: require_auth: must be true in production" in " ".join(text.stderr.split())


BAD_FILES = {
    "wrong type": ('port = "eighty"\n', "port", "invalid_int_parsing", "valid integer"),
    "unknown key": ('log_levle = "info"\n', "log_levle", "unknown_setting", "did you mean 'log_level'"),
    "out of range": ("interval_level = 1.5\n", "interval_level", "invalid_less_than", "less than 0.99"),
    "cross-field": ("alert_p95_warning_s = 40.0\n", "alert_p95_warning_s", "invalid_value_error", "below alert_p95_"),
    "truncated": ('log_level = "info"\nport = 80\nrate_limit_per_minute = \n', None, "invalid_toml", "not valid TOML"),
    "secret in a file": (f'alert_webhook_url = "{WEBHOOK_SECRET}"\n', "alert_webhook_url", "secret_in_file", "0600"),
    "locating key": ('data_dir = "/elsewhere"\n', "data_dir", "locating_setting_in_file", "flag or the environment"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_refused_with_its_message_and_changes_nothing(root: Path, case: str) -> None:
    text, setting, code, words = BAD_FILES[case]
    (root / "config").mkdir()
    applied(root).write_text('log_level = "info"\n')
    before = applied(root).read_bytes()
    candidate = root / "candidate.toml"
    candidate.write_text(text)

    result = invoke(root, "config", "apply", candidate, "--json")
    error = as_json(result)["error"]
    assert result.exit_code == 2 and error["code"] == "invalid_configuration"
    assert "nothing was changed" in error["message"]
    assert [(e["field"], e["code"]) for e in error["details"]["errors"]] == [(setting, code)]
    assert words in error["details"]["errors"][0]["message"]
    assert applied(root).read_bytes() == before
    assert not (root / "backups").exists()  # judged before anything was written
    assert WEBHOOK_SECRET not in result.stdout + result.stderr

    # the same file put in place by hand: every command that loads settings says what is wrong, and where
    applied(root).write_text(text)
    result = invoke(root, "config", "validate", "--json")
    problems = as_json(result)["errors"]
    assert result.exit_code == 1 and [(p["setting"], p["code"]) for p in problems] == [(setting, code)]
    assert str(applied(root)) in (problems[0]["source"] or "") + problems[0]["message"]
    assert WEBHOOK_SECRET not in result.stdout + result.stderr


def test_apply_of_a_missing_file_is_a_clear_error(root: Path) -> None:
    result = invoke(root, "config", "apply", root / "nope.toml", "--json")
    assert result.exit_code == 2 and as_json(result)["error"]["details"]["errors"][0]["code"] == "file_not_found"


# --- apply, backup, restore -----------------------------------------------------------------------------------


def _manifest(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
    return data


def test_apply_backs_up_the_current_file_then_replaces_it(root: Path) -> None:
    first, second, third = root / "first.toml", root / "second.toml", root / "third.toml"
    first.write_text("# first\nanalog_count = 30\n")
    second.write_text("# second\nanalog_count = 35\nlog_level = 'warn'\n")
    third.write_text("analog_count = 45\n")

    body = as_json(invoke(root, "config", "apply", first, "--json"))
    assert body["backup"] is None and body["changed"] == {"analog_count": {"from": 25, "to": 30}}
    assert applied(root).read_text() == first.read_text()  # as written, comments kept

    body = as_json(invoke(root, "config", "apply", second, "--json"))
    backup = Path(body["backup"])
    assert backup == root / "backups" / "config" / TODAY
    assert (backup / "oppscope.toml").read_text() == first.read_text()
    entry = _manifest(backup)["files"]["oppscope.toml"]
    assert entry["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert body["changed"]["log_level"] == {"from": "debug", "to": "warning"}
    assert load_settings(data_dir=root / "data").analog_count == 35

    # a second backup the same day keeps the first one, renamed
    body = as_json(invoke(root, "config", "apply", third, "--json"))
    days = sorted(p.name for p in (root / "backups" / "config").iterdir())
    assert len(days) == 2 and days[0] == TODAY and days[1].startswith(f"{TODAY}.")
    assert (root / "backups" / "config" / TODAY / "oppscope.toml").read_text() == second.read_text()
    assert (root / "backups" / "config" / days[1] / "oppscope.toml").read_text() == first.read_text()
    assert not [p for p in (root / "config").iterdir() if p.name != "oppscope.toml"]  # no temporary left


def test_backup_and_restore_round_trip_keeping_the_current_file(root: Path) -> None:
    original = root / "original.toml"
    original.write_text("analog_count = 30\ntop_services = 3\n")
    invoke(root, "config", "apply", original)
    made = as_json(invoke(root, "config", "backup", "--json"))
    assert Path(made["path"]) == root / "backups" / "config" / TODAY and "oppscope.toml" in made["files"]
    listed = as_json(invoke(root, "config", "backups", "--json"))["backups"]
    assert [Path(b["path"]).name for b in listed] == [TODAY]

    changed = root / "changed.toml"
    changed.write_text("analog_count = 60\n")
    invoke(root, "config", "apply", changed)
    result = invoke(root, "config", "restore", "--backup-date", TODAY, "--json")
    body = as_json(result)
    assert result.exit_code == 0, result.output
    assert applied(root).read_text() == original.read_text()
    assert body["changed"]["analog_count"] == {"from": 60, "to": 30}
    kept = Path(body["kept"])
    assert (kept / "oppscope.toml").read_text() == changed.read_text()  # the current one was kept first
    assert load_settings(data_dir=root / "data").top_services == 3


def test_restore_refuses_a_damaged_or_missing_backup_and_changes_nothing(root: Path) -> None:
    good = root / "good.toml"
    good.write_text("analog_count = 30\n")
    invoke(root, "config", "apply", good)
    invoke(root, "config", "backup")
    current = root / "current.toml"
    current.write_text("analog_count = 31\n")
    invoke(root, "config", "apply", current)
    before = applied(root).read_bytes()
    day = root / "backups" / "config" / TODAY
    backups_before = sorted(p.name for p in day.parent.iterdir())

    stored = day / "oppscope.toml"
    stored.write_text(stored.read_text().replace("30", "99"))  # same length, other content
    result = invoke(root, "config", "restore", "--backup-date", TODAY, "--json")
    assert result.exit_code == 2 and as_json(result)["error"]["code"] == "backup_corrupted"
    stored.write_text("analog_count = ")  # truncated
    assert as_json(invoke(root, "config", "restore", "--backup-date", TODAY, "--json"))["error"]["code"] == (
        "backup_corrupted"
    )
    assert applied(root).read_bytes() == before
    assert sorted(p.name for p in day.parent.iterdir()) == backups_before

    missing = invoke(root, "config", "restore", "--backup-date", "2001-01-01", "--json")
    error = as_json(missing)["error"]
    assert missing.exit_code == 2 and error["code"] == "backup_not_found" and TODAY in error["details"]["available"]
    bad_date = invoke(root, "config", "restore", "--backup-date", "yesterday")
    assert bad_date.exit_code == 2 and "YYYY-MM-DD" in bad_date.output


def test_restore_refuses_a_backup_this_version_cannot_load(root: Path) -> None:
    """A backup whose file names a setting this version no longer has (simulated with a sound manifest)."""
    day = root / "backups" / "config" / TODAY
    day.mkdir(parents=True)
    data = b"retired_setting = 1\n"
    (day / "oppscope.toml").write_bytes(data)
    files = {"oppscope.toml": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}}
    (day / "manifest.json").write_text(json.dumps({"kind": "oppscope-config", "created_at": "x", "files": files}))
    result = invoke(root, "config", "restore", "--backup-date", TODAY, "--json")
    error = as_json(result)["error"]
    assert result.exit_code == 2 and error["details"]["errors"][0]["code"] == "unknown_setting"
    assert not applied(root).exists()


# --- secrets --------------------------------------------------------------------------------------------------


def test_secrets_come_from_files_or_the_environment_and_are_never_shown(root: Path) -> None:
    """The subprocess sees exactly what an operator's shell would; stdout, stderr and the log are grepped."""
    secrets_dir = root / "config" / "secrets"
    secrets_dir.mkdir(parents=True)
    # SQLite takes no password: the secret part of this URL is a directory name only the secret file knows
    state_db = root / DB_PASSWORD / "state.sqlite"
    state_db.parent.mkdir()
    (secrets_dir / "state_url").write_text(f"sqlite:///{state_db}\n")
    (secrets_dir / "state_url").chmod(0o600)
    webhook_file = root / "webhook"
    webhook_file.write_text(WEBHOOK_SECRET + "\n")
    webhook_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPPSCOPE_")}
    env |= {"OPPSCOPE_ALERT_WEBHOOK_URL_FILE": str(webhook_file), "OPPSCOPE_LOG_LEVEL": "debug"}
    oppscope = Path(sys.executable).parent / "oppscope"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(oppscope), *args, "--data-dir", str(root / "data"), "--profile", "production"]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    shown = run("config", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    settings = json.loads(shown.stdout)["settings"]
    assert settings["alert_webhook_url"] == {"value": "********", "source": "secret_file", "detail": str(webhook_file)}
    assert settings["state_url"]["source"] == "secret_file" and settings["state_url"]["value"] == "********"
    outputs = [shown, run("config", "show"), run("config", "validate", "--json"), run("config", "validate")]
    outputs += [run("config", "diff", "--from", "staging", "--json"), run("config", "backup", "--json")]
    other = root / "other.toml"
    other.write_text("analog_count = 30\n")
    outputs += [run("config", "apply", str(other))]
    assert all(p.returncode == 0 for p in outputs), [p.stderr for p in outputs if p.returncode]
    logs = list((root / "data" / "logs").glob("*"))
    assert logs, "the commands logged"
    backups = [p.read_text() for p in (root / "backups").rglob("*") if p.is_file()]
    seen = "".join(p.stdout + p.stderr for p in outputs) + "".join(p.read_text() for p in logs) + "".join(backups)
    for secret in (WEBHOOK_SECRET, "s3cr3t-webhook-token", DB_PASSWORD):
        assert secret not in seen
    # the secret was really used: validate reached the state database the secret URL names
    assert state_db.exists()

    # production refuses a secret file others can read
    (secrets_dir / "state_url").chmod(0o644)
    refused = run("config", "validate", "--json")
    body = json.loads(refused.stdout)
    assert refused.returncode == 1 and [e["code"] for e in body["errors"]] == ["secret_file_readable"]
    assert DB_PASSWORD not in refused.stdout + refused.stderr


def test_a_secret_never_appears_in_the_settings_repr_or_dump(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPPSCOPE_ALERT_WEBHOOK_URL", WEBHOOK_SECRET)
    settings = load_settings(data_dir=root / "data")
    assert settings.alert_webhook_url is not None
    assert settings.alert_webhook_url.get_secret_value() == WEBHOOK_SECRET
    assert WEBHOOK_SECRET not in repr(settings) + settings.model_dump_json() + str(settings.model_dump())
    monkeypatch.setenv("OPPSCOPE_ALERT_WEBHOOK_URL", "ftp://" + WEBHOOK_SECRET)
    result = invoke(root, "config", "validate", "--json")
    assert result.exit_code == 1 and WEBHOOK_SECRET not in result.stdout + result.stderr
    assert as_json(result)["errors"][0]["setting"] == "alert_webhook_url"


def test_an_unreadable_secret_file_is_named_not_read(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPPSCOPE_STATE_URL_FILE", str(root / "missing-secret"))
    result = invoke(root, "config", "validate", "--json")
    errors = as_json(result)["errors"]
    assert result.exit_code == 1 and errors[0]["code"] == "unreadable_secret"
    assert "missing-secret cannot be read" in errors[0]["message"]


def test_every_url_setting_is_a_secret() -> None:
    """Webhook and database URLs carry tokens and passwords: a new one must be a ``SecretStr`` to be masked."""
    urls = {name for name in Settings.model_fields if name.endswith("_url")}
    assert urls and urls <= set(SECRET_FIELDS)

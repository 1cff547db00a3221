"""One settings object for the whole system.

Precedence (highest first): explicit arguments (the CLI's flags), ``OPPSCOPE_*`` environment variables, secret
files (``OPPSCOPE_<NAME>_FILE``, or ``<config_path>/secrets/<name>``), the applied file
(``<config_path>/oppscope.toml``, written by ``oppscope config apply``), the profile's TOML file
(``oppscope/profiles/<profile>.toml``), then the defaults below. Keeping every knob here means the CLI, the web
app and the benchmarks can never disagree about where data lives or how wide an interval is.

Secrets (``SECRET_FIELDS``) are ``SecretStr``: their value never appears in a repr, a dump or a log line, and
``oppscope config`` refuses them in the applied file, so they live only in the environment or in a 0600 file.
"""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PROFILES_DIR = Path(__file__).parent / "profiles"
ENV_PREFIX = "OPPSCOPE_"
# The file ``oppscope config apply`` writes under ``config_path``, and the directory of secret files beside it.
APPLIED_FILE = "oppscope.toml"
SECRETS_SUBDIR = "secrets"
# Settings that locate the files the others are read from: given by a flag or the environment, never by a file.
LOCATING_FIELDS = ("profile", "data_dir", "config_dir")


class Profile(StrEnum):
    development = "development"
    staging = "staging"
    production = "production"


class ResourceSize(NamedTuple):
    vcpus: int
    memory_mb: int


RESOURCE_SIZES: dict[str, ResourceSize] = {
    "minimal": ResourceSize(1, 2048),
    "standard": ResourceSize(2, 4096),
    "optimized": ResourceSize(4, 8192),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    profile: Profile = Profile.development
    data_dir: Path = Path("data")
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    # The seed's environment table: resources minimal/standard/optimized size the service (development 1 vCPU and
    # 2 GB, staging 2/4, production 4/8); the server runs one worker per vCPU unless ``workers`` says otherwise.
    # monitoring basic/full: see ``ops``. The sizes are what ``oppscope capacity`` compares observed use with.
    resources: Literal["minimal", "standard", "optimized"] = "minimal"
    workers: int | None = Field(None, ge=1, le=64)
    monitoring: Literal["basic", "full"] = "basic"

    # Beside the data directory by default (./backups, ./config, ./releases next to ./data), so that losing the data
    # directory loses no backup, no applied configuration and no release. ``continuous_backup``: the state database
    # is streamed to the backup directory while the service runs (point-in-time recovery).
    backup_dir: Path | None = None
    config_dir: Path | None = None
    releases_dir: Path | None = None
    continuous_backup: bool = False
    # The seed's retention: daily backups kept 30 days, weekly 365 days, monthly 7 years (``oppscope backup prune``).
    backup_retention_daily_days: int = Field(30, ge=1, le=36_500)
    backup_retention_weekly_days: int = Field(365, ge=1, le=36_500)
    backup_retention_monthly_days: int = Field(7 * 365, ge=1, le=36_500)
    # The seed's disaster recovery targets, which `oppscope dr test` measures against.
    dr_rto_target_minutes: float = Field(15.0, gt=0, le=10_080)
    dr_rpo_target_minutes: float = Field(60.0, gt=0, le=10_080)

    # Production serving (``serve --daemon``): nginx in front of the instance. The header timeout bounds the whole
    # request header (slowloris), the body timeout each pause in a body; ``proxy_connections_per_client`` caps what
    # one address holds open; the request timeout is the original's analysis timeout (300 s).
    proxy_header_timeout_s: float = Field(10.0, ge=0.1, le=300)
    proxy_body_timeout_s: float = Field(10.0, ge=0.1, le=300)
    proxy_request_timeout_s: float = Field(300.0, ge=1, le=3600)
    proxy_keepalive_timeout_s: float = Field(15.0, ge=0, le=300)
    proxy_max_connections: int = Field(8192, ge=64, le=65536)
    proxy_connections_per_client: int = Field(64, ge=1, le=65536)
    instance_start_timeout_s: float = Field(300.0, ge=5, le=3600)
    drain_seconds: float = Field(10.0, ge=0, le=3600)

    # Analysis knobs: part of every analysis' provenance, so a result can be reproduced.
    interval_level: float = Field(0.8, gt=0.5, lt=0.99)
    analog_count: int = Field(25, ge=5, le=200)
    top_services: int = Field(5, ge=1, le=10)
    load_sample_if_empty: bool = True
    sample_rows: int = Field(5000, ge=100, le=1_000_000)
    sample_seed: int = 20240601

    # Backends, each chosen here and built in one place (``oppscope.wiring``); an unknown name is refused now,
    # not at the first request.
    history_backend: Literal["duckdb"] = "duckdb"
    analysis_store_backend: Literal["sql"] = "sql"
    token_backend: Literal["sql"] = "sql"
    model_cache_backend: Literal["files"] = "files"

    # State: saved analyses and API tokens. Without a URL, a SQLite file in the data directory.
    state_url: SecretStr | None = Field(None, description="SQLAlchemy URL of the state database (a secret).")
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "FULL"

    # HTTP. Staging and production require a bearer token on every API call and page.
    require_auth: bool = False
    secure_cookies: bool = False
    max_body_bytes: int = Field(65_536, ge=1_024, le=10_485_760)
    rate_limit_per_minute: int = Field(600, ge=1, le=1_000_000)
    rate_limit_burst: int = Field(60, ge=1, le=100_000)
    history_check_seconds: float = Field(10.0, ge=0, le=86_400)
    # Origins a browser page may call the original-compatible routes from (CORS); "*" is any. Open in the
    # development profile, as the original's cors() was; closed unless listed elsewhere.
    cors_allow_origins: list[str] = Field(default_factory=list)
    mask_free_text: bool = Field(
        True, description="Mask secrets and personal identifiers in an opportunity's free text before it is kept."
    )
    allow_open_remote: bool = Field(
        False, description="Let a server without authentication bind to a non-loopback interface."
    )
    api_docs_public: bool = Field(True, description="Serve /docs and /openapi.json without a token.")

    # Health: /health/ready fails when the data directory's disk has less free space than this.
    disk_free_min_percent: float = Field(10.0, ge=0, le=100)

    # Observability: JSON logs (one file per UTC day under log_dir, default <data_dir>/logs), Prometheus metrics
    # and the internal per-minute time series under <data_dir>/ops. metrics_enabled=false turns the metrics, the
    # time series and the stage timings off (the request log stays).
    log_dir: Path | None = None
    log_retention_days: int = Field(30, ge=1, le=3650)
    metrics_enabled: bool = True
    timeseries_retention_hours: int = Field(48, ge=24, le=24 * 90)
    timeseries_flush_seconds: float = Field(5.0, gt=0, le=300)
    resource_sample_seconds: float = Field(15.0, gt=0, le=3600)
    # Analyses of an identical input against the same history snapshot and settings, per worker process.
    analysis_cache_enabled: bool = False
    analysis_cache_max_entries: int = Field(1000, ge=1, le=1_000_000)
    analysis_cache_ttl_high_seconds: float = Field(7200, gt=0, le=604_800)
    analysis_cache_ttl_medium_seconds: float = Field(3600, gt=0, le=604_800)
    analysis_cache_ttl_low_seconds: float = Field(1800, gt=0, le=604_800)

    # Alerts, at the seed guide's thresholds (ratios of requests, seconds, minutes). One rule model reads these for
    # `oppscope alerts check`, the exported Prometheus rules and CloudWatch alarms, so they can never disagree.
    alert_availability_min: float = Field(0.99, gt=0, lt=1)
    alert_error_rate_critical: float = Field(0.05, gt=0, lt=1)
    alert_error_rate_warning: float = Field(0.02, gt=0, lt=1)
    alert_p95_critical_s: float = Field(30.0, gt=0, le=3600)
    alert_p95_warning_s: float = Field(15.0, gt=0, le=3600)
    alert_resource_warning: float = Field(0.80, gt=0, lt=1, description="CPU, memory or disk use, as a ratio.")
    alert_critical_window_minutes: int = Field(5, ge=1, le=1440)
    alert_warning_window_minutes: int = Field(10, ge=1, le=1440)
    alert_resource_window_minutes: int = Field(15, ge=1, le=1440)
    alert_webhook_url: SecretStr | None = Field(None, description="Where alerts are posted (a secret: its token).")
    alert_webhook_format: Literal["alertmanager", "slack"] = "alertmanager"
    # The seed's scaling triggers (`oppscope capacity`, the maintenance checklists). Scale up when CPU or memory stays
    # above its share for scale_up_minutes, p95 passes alert_p95_warning_s, or the queue (requests in flight) passes
    # scale_up_queue; memory's share is alert_resource_warning: the seed gives both the same numbers, kept in one
    # place. Scale down when CPU, memory, p95 and queue all stay below theirs for scale_down_minutes.
    scale_up_cpu: float = Field(0.70, gt=0, lt=1, description="CPU use of the environment's vCPUs, as a ratio.")
    scale_up_queue: int = Field(100, ge=1, le=1_000_000)
    scale_up_minutes: int = Field(5, ge=1, le=1440)
    scale_down_cpu: float = Field(0.30, gt=0, lt=1)
    scale_down_memory: float = Field(0.50, gt=0, lt=1)
    scale_down_p95_s: float = Field(5.0, gt=0, le=3600)
    scale_down_queue: int = Field(10, ge=1, le=1_000_000)
    scale_down_minutes: int = Field(15, ge=1, le=1440)
    # Releases (``oppscope deploy``): how many stay installed (the linked ones always do), and where deployment
    # notices go (default: the alerts' webhook).
    releases_keep: int = Field(5, ge=2, le=100)
    deploy_webhook_url: SecretStr | None = Field(None, description="Where deployment notices go (a secret: its token).")
    # The seed's performance baselines (`oppscope check performance`) and what `queries slow` calls slow.
    baseline_p95_s: float = Field(10.0, gt=0, le=3600)
    baseline_requests_per_minute: float = Field(100.0, gt=0)
    baseline_error_rate: float = Field(0.01, ge=0, lt=1)
    slow_request_s: float = Field(2.0, gt=0, le=3600)
    # Where exported CloudWatch alarms and dashboards look for the service's metrics.
    cloudwatch_namespace: str = Field("Oppscope", pattern=r"^[A-Za-z0-9_./#:-]{1,255}$")
    cloudwatch_region: str = Field("us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")

    @field_validator("log_level", mode="before")
    @classmethod
    def _seed_level_names(cls, value: object) -> object:
        """The seed's table says ``warn``; logging calls it ``warning``. Accept both, keep one."""
        return "warning" if isinstance(value, str) and value.lower() == "warn" else value

    @field_validator("alert_webhook_url", "deploy_webhook_url")
    @classmethod
    def _webhook_is_http(cls, value: SecretStr | None) -> SecretStr | None:
        """Checked here rather than by a pattern, which would quote the secret in its error."""
        if value is not None:
            url = value.get_secret_value()
            if not url.startswith(("http://", "https://")) or len(url) > 2000:
                raise ValueError("must be an http:// or https:// URL of at most 2000 characters")
        return value

    @model_validator(mode="after")
    def _warnings_below_criticals(self) -> Settings:
        """A warning threshold at or past its critical one would never warn first, and a scale-down threshold at or
        past its scale-up one would flap: refuse them when loading."""
        if self.alert_error_rate_warning >= self.alert_error_rate_critical:
            raise ValueError("alert_error_rate_warning must be below alert_error_rate_critical")
        if self.alert_p95_warning_s >= self.alert_p95_critical_s:
            raise ValueError("alert_p95_warning_s must be below alert_p95_critical_s")
        for down, up in (
            ("scale_down_cpu", "scale_up_cpu"),
            ("scale_down_memory", "alert_resource_warning"),
            ("scale_down_p95_s", "alert_p95_warning_s"),
            ("scale_down_queue", "scale_up_queue"),
        ):
            if getattr(self, down) >= getattr(self, up):
                raise ValueError(f"{down} must be below {up}, or the service would scale down into a scale-up")
        return self

    @property
    def resource_size(self) -> ResourceSize:
        """The vCPUs and memory this environment is sized for."""
        return RESOURCE_SIZES[self.resources]

    @property
    def worker_count(self) -> int:
        return self.workers or self.resource_size.vcpus

    @property
    def backup_path(self) -> Path:
        return self.backup_dir or self.data_dir.resolve().parent / "backups"

    @property
    def config_path(self) -> Path:
        """The directory of the applied configuration (``oppscope config apply``) and its backups' sources."""
        return self.config_dir or self.data_dir.resolve().parent / "config"

    @property
    def releases_path(self) -> Path:
        """Installed releases side by side, with ``current`` and ``previous`` links."""
        return self.releases_dir or self.data_dir.resolve().parent / "releases"

    @property
    def run_path(self) -> Path:
        """Pid files, the proxy's generated configuration and the supervisor's state of a daemon."""
        return self.data_dir / "run"

    @property
    def history_path(self) -> Path:
        return self.data_dir / "history.duckdb"

    @property
    def state_path(self) -> Path:
        return self.data_dir / "state.sqlite"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def log_path(self) -> Path:
        """The directory the JSON log files go to."""
        return self.log_dir or self.data_dir / "logs"

    @property
    def ops_dir(self) -> Path:
        """Operational state shared by the worker processes: the time series, Prometheus' multiprocess files."""
        return self.data_dir / "ops"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return tuple(source for _, source in settings_layers(settings_cls, init_settings, env_settings))


# Settings whose value is a credential (a webhook URL carries its token, a database URL may carry a password): every
# ``SecretStr`` setting, so declaring a new one with that type is all it takes.
SECRET_FIELDS = tuple(
    name
    for name, info in Settings.model_fields.items()
    if info.annotation is SecretStr or SecretStr in get_args(info.annotation)
)

Layer = Literal["cli", "env", "secret_file", "file", "profile"]


def settings_layers(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
) -> list[tuple[Layer, PydanticBaseSettingsSource]]:
    """The sources of the settings, highest first, each named by where its values come from. ``oppscope config
    show`` reads the same list to say where each value came from, so it can never disagree with the loading."""
    given = init_settings()
    config_path = requested_config_path(given)
    return [
        ("cli", init_settings),
        ("env", env_settings),
        ("secret_file", SecretFilesSource(settings_cls, config_path / SECRETS_SUBDIR)),
        ("file", TomlFileSource(settings_cls, config_path / APPLIED_FILE)),
        ("profile", TomlFileSource(settings_cls, profile_file(requested_profile(given)))),
    ]


class TomlFileSource(PydanticBaseSettingsSource):
    """One TOML file's table, read when the settings are built. A missing file is an empty layer; an unreadable
    one is refused naming the file (a ``ValueError``, as every bad setting is)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {}
        try:
            return tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{self.path} is not valid TOML: {exc}") from exc


class SecretFilesSource(PydanticBaseSettingsSource):
    """A secret's value from the file ``OPPSCOPE_<NAME>_FILE`` names, else from ``<config_path>/secrets/<name>``
    (the Docker and Kubernetes convention), its trailing newline dropped. Files are read only for secrets."""

    def __init__(self, settings_cls: type[BaseSettings], secrets_dir: Path) -> None:
        super().__init__(settings_cls)
        self.secrets_dir = secrets_dir
        self.paths: dict[str, Path] = {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        path = secret_file_path(field_name, self.secrets_dir)
        if path is None:
            return None, field_name, False
        self.paths[field_name] = path
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ValueError(f"{field_name}: the secret file {path} cannot be read: {reason}") from None
        return text.rstrip("\r\n"), field_name, False

    def __call__(self) -> dict[str, Any]:
        found = {}
        for name in SECRET_FIELDS:
            value, _, _ = self.get_field_value(self.settings_cls.model_fields[name], name)
            if value is not None:
                found[name] = value
        return found


def secret_file_path(name: str, secrets_dir: Path) -> Path | None:
    """The file a secret is read from, if one is given: an unreadable named file fails loudly when read."""
    named = os.environ.get(f"{ENV_PREFIX}{name.upper()}_FILE")
    if named:
        return Path(named)
    default = secrets_dir / name
    return default if default.is_file() else None


def requested_profile(given: dict[str, Any]) -> str:
    """The profile asked for by a flag or the environment (files cannot choose it: they are chosen by it)."""
    chosen: Any = given.get("profile") or os.environ.get(f"{ENV_PREFIX}PROFILE") or "development"
    return Profile(str(chosen)).value


def profile_file(profile: str) -> Path:
    return PROFILES_DIR / f"{profile}.toml"


def requested_config_path(given: dict[str, Any]) -> Path:
    """``config_path`` as the flags and environment give it, before any file is read (the applied file lives
    there, so it cannot move itself)."""
    config_dir: Any = given.get("config_dir") or os.environ.get(f"{ENV_PREFIX}CONFIG_DIR")
    if config_dir:
        return Path(config_dir)
    data_dir: Any = given.get("data_dir") or os.environ.get(f"{ENV_PREFIX}DATA_DIR") or "data"
    return Path(data_dir).resolve().parent / "config"


def secret_value(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def load_settings(**overrides: Any) -> Settings:
    """Build settings; ``overrides`` (e.g. from CLI flags) win over everything else."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

"""One settings object for the whole system.

Precedence (highest first): explicit arguments, ``OPPSCOPE_*`` environment variables, the profile's TOML
file (``oppscope/profiles/<profile>.toml``), then the defaults below. Keeping every knob here means the CLI,
the web app and the benchmarks can never disagree about where data lives or how wide an interval is.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROFILES_DIR = Path(__file__).parent / "profiles"


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
    model_config = SettingsConfigDict(env_prefix="OPPSCOPE_", extra="forbid", validate_default=True)

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
    state_url: str | None = None
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
    alert_webhook_url: str | None = Field(None, pattern=r"^https?://", max_length=2000)
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
        profile = _requested_profile(init_settings)
        toml = TomlConfigSettingsSource(settings_cls, toml_file=PROFILES_DIR / f"{profile}.toml")
        return (init_settings, env_settings, toml)


def _requested_profile(init_settings: PydanticBaseSettingsSource) -> str:
    given: Any = init_settings().get("profile") or os.environ.get("OPPSCOPE_PROFILE") or "development"
    return Profile(str(given)).value


def load_settings(**overrides: Any) -> Settings:
    """Build settings; ``overrides`` (e.g. from CLI flags) win over everything else."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

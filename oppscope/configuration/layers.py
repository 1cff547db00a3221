"""The settings, layer by layer, with where each value came from.

``inspect_settings`` reads the very sources ``Settings`` reads (``config.settings_layers``), merges them lowest
first and validates the result once, so the values it reports are the values every command and server gets. It
never raises for a bad value: each problem becomes a ``Problem`` naming the setting and the layer (and file or
variable) that supplied it, which is what ``config validate``, ``show`` and ``apply`` print.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, InitSettingsSource, PydanticBaseSettingsSource

from oppscope.config import (
    APPLIED_FILE,
    ENV_PREFIX,
    LOCATING_FIELDS,
    SECRET_FIELDS,
    Layer,
    SecretFilesSource,
    Settings,
    profile_file,
    requested_config_path,
    requested_profile,
    settings_layers,
)
from oppscope.errors import ErrorKind, OppscopeError

Source = Literal["default", "profile", "file", "secret_file", "env", "cli"]
Severity = Literal["error", "warning"]
MASK = "********"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration, said once, with what to do about it where we know."""

    severity: Severity
    code: str
    message: str
    setting: str | None = None
    source: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "setting": self.setting,
            "source": self.source,
            "message": self.message,
        }

    def text(self) -> str:
        where = f"{self.setting}: " if self.setting else ""
        origin = f" (from {self.source})" if self.source else ""
        return f"{where}{self.message}{origin}"


class ConfigError(OppscopeError):
    """A configuration that cannot be used or a file that cannot be applied: the user's to fix."""

    default_kind = ErrorKind.invalid

    @classmethod
    def from_problems(cls, message: str, problems: Sequence[Problem]) -> ConfigError:
        return cls("invalid_configuration", message, problem_details(problems))


def problem_details(problems: Sequence[Problem]) -> dict[str, Any]:
    """The problems in the error shape every command prints (``field: message`` for people)."""
    return {
        "errors": [
            {"field": p.setting, "message": p.text().removeprefix(f"{p.setting}: "), "code": p.code, "source": p.source}
            for p in problems
        ]
    }


@dataclass(frozen=True)
class Origin:
    source: Source
    detail: str | None = None  # the file or the environment variable

    def text(self) -> str:
        return f"{self.source} {self.detail}" if self.detail else self.source


@dataclass
class Inspection:
    """The effective settings (None when they do not load), each value's origin and every problem found."""

    profile: str
    config_path: Path
    layers: dict[Layer, dict[str, Any]]
    origins: dict[str, Origin]
    settings: Settings | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def origin_text(self, name: str) -> str:
        return self.origins.get(name, Origin("default")).text()

    def values(self) -> dict[str, Any]:
        """Every setting as JSON, secrets masked; empty when the settings do not load."""
        if self.settings is None:
            return {}
        dumped: dict[str, Any] = self.settings.model_dump(mode="json")
        for name in SECRET_FIELDS:
            dumped[name] = None if getattr(self.settings, name) is None else MASK
        return dumped


def inspect_settings(
    overrides: Mapping[str, Any] | None = None, *, applied: Mapping[str, Any] | None = None
) -> Inspection:
    """The settings ``load_settings(**overrides)`` builds, taken apart; ``applied`` stands in for the applied
    file's contents (how ``config apply`` and ``restore`` judge a file before writing it)."""
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    config_path = requested_config_path(given)
    problems: list[Problem] = []
    try:
        profile = requested_profile(given)
    except ValueError:
        chosen = given.get("profile") or "OPPSCOPE_PROFILE"
        problems.append(
            Problem("error", "unknown_profile", f"no profile {chosen!r}: development, staging or production", "profile")
        )
        return Inspection(str(chosen), config_path, {}, {}, None, problems)
    layers = _read_layers(given, applied, problems)
    origins = _origins(layers, profile, config_path)
    files = {"file": f"file {config_path / APPLIED_FILE}", "profile": f"profile {profile_file(profile)}"}
    misplaced = _misplaced(layers, files)
    problems.extend(misplaced)
    refused = {p.setting for p in misplaced}
    merged: dict[str, Any] = {}
    for name in reversed(list(layers)):  # lowest first
        merged.update({k: v for k, v in layers[name].items() if name not in ("file", "profile") or k not in refused})
    settings = None
    try:
        candidate = _validated(merged)
    except ValidationError as exc:
        problems.extend(_validation_problems(exc, origins))
    else:
        # the settings others would load are only these when every layer was read as written
        settings = None if any(p.severity == "error" for p in problems) else candidate
    return Inspection(profile, config_path, layers, origins, settings, problems)


class _Merged(Settings):
    """Validates values already gathered: ``Settings`` itself would read its sources again (pydantic calls its
    ``__init__`` even from ``model_validate``)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _validated(merged: dict[str, Any]) -> Settings:
    checked = _Merged(**merged)
    values = {name: getattr(checked, name) for name in Settings.model_fields}
    return Settings.model_construct(_fields_set=checked.model_fields_set, **values)


def _read_layers(
    given: dict[str, Any], applied: Mapping[str, Any] | None, problems: list[Problem]
) -> dict[Layer, dict[str, Any]]:
    """Each source's values, highest first; an unreadable file or secret is a problem and an empty layer."""
    layers: dict[Layer, dict[str, Any]] = {}
    init = InitSettingsSource(Settings, init_kwargs=given)
    for name, source in settings_layers(Settings, init, EnvSettingsSource(Settings)):
        if name == "file" and applied is not None:
            layers[name] = dict(applied)
            continue
        try:
            layers[name] = dict(source())
        except ValueError as exc:  # a file that is not TOML, a secret file that cannot be read
            code = "unreadable_secret" if name == "secret_file" else "invalid_toml"
            problems.append(Problem("error", code, str(exc)))  # the message names the file
            layers[name] = {}
    return layers


def _origins(layers: Mapping[Layer, Mapping[str, Any]], profile: str, config_path: Path) -> dict[str, Origin]:
    details: dict[Layer, Any] = {
        "cli": lambda _: None,
        "env": lambda name: f"{ENV_PREFIX}{name.upper()}",
        "secret_file": lambda name: str(_secret_path(name, config_path)),
        "file": lambda _: str(config_path / APPLIED_FILE),
        "profile": lambda _: str(profile_file(profile)),
    }
    origins: dict[str, Origin] = {}
    for layer, values in reversed(list(layers.items())):  # lowest first, so the highest layer wins
        for name in values:
            origins[name] = Origin(layer, details[layer](name))
    return origins


def _secret_path(name: str, config_path: Path) -> Path | None:
    source = SecretFilesSource(Settings, config_path / "secrets")
    source()
    return source.paths.get(name)


def _misplaced(layers: Mapping[Layer, Mapping[str, Any]], files: Mapping[str, str]) -> list[Problem]:
    """Keys a file may not hold: unknown ones (with the nearest name), secrets, and the locating settings."""
    known = set(Settings.model_fields)
    problems = []
    for layer in ("file", "profile"):
        for key in layers.get(layer, {}):
            source = files[layer]
            if key not in known:
                near = difflib.get_close_matches(key, known, n=1)
                hint = f": did you mean {near[0]!r}?" if near else ""
                problems.append(Problem("error", "unknown_setting", f"not a setting{hint}", key, source))
            elif key in SECRET_FIELDS:
                problems.append(
                    Problem(
                        "error",
                        "secret_in_file",
                        f"a secret belongs in the environment ({ENV_PREFIX}{key.upper()}) or in a 0600 file "
                        f"({ENV_PREFIX}{key.upper()}_FILE), not in a configuration file",
                        key,
                        source,
                    )
                )
            elif layer == "file" and key in LOCATING_FIELDS:
                problems.append(
                    Problem(
                        "error",
                        "locating_setting_in_file",
                        "chooses which files are read, so it is given by a flag or the environment, not by a file",
                        key,
                        source,
                    )
                )
    return problems


def _validation_problems(exc: ValidationError, origins: Mapping[str, Origin]) -> list[Problem]:
    """Pydantic's errors, one per setting, without the offending value (it may be a secret)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = [str(part) for part in error.get("loc", ())]
        name = loc[0] if loc else None
        origin = origins.get(name) if name else None
        message = str(error.get("msg", "invalid"))
        if name is None:  # a rule across settings: blame the first one it names
            message = message.removeprefix("Value error, ")
            name = next((word for word in message.split() if word in Settings.model_fields), None)
            loc = [name] if name else []
            origin = origins.get(name) if name else None
        problems.append(
            Problem(
                "error",
                f"invalid_{error.get('type', 'value')}",
                message,
                ".".join(loc) or None,
                origin.text() if origin else None,
            )
        )
    return problems


def read_toml(path: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    """A configuration file's table, or the one problem that stops it being read (missing, not TOML)."""
    source = f"file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem("error", "file_not_found", f"{path} does not exist", source=source)]
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return None, [Problem("error", "unreadable_file", f"{path} cannot be read: {reason}", source=source)]
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as exc:
        return None, [Problem("error", "invalid_toml", f"{path} is not valid TOML: {exc}", source=source)]


def secret_is_set(value: SecretStr | None) -> bool:
    return value is not None and bool(value.get_secret_value())

"""Configuration profiles and the applied file: validate, show with origins, diff, apply, backup and restore.

The settings themselves are ``oppscope.config``; this package judges them and manages the one file operators
write (``<config_path>/oppscope.toml``). ``validate_configuration(overrides) -> ConfigReport`` (``.ok``,
``.as_dict()``) is what a deployment's preflight calls.
"""

from oppscope.configuration.files import apply_config, backup_config, list_backups, restore_config, verify_backup
from oppscope.configuration.layers import ConfigError, Inspection, Problem, inspect_settings
from oppscope.configuration.validate import ConfigReport, validate_configuration

__all__ = [
    "ConfigError",
    "ConfigReport",
    "Inspection",
    "Problem",
    "apply_config",
    "backup_config",
    "inspect_settings",
    "list_backups",
    "restore_config",
    "validate_configuration",
    "verify_backup",
]

"""Backups and recovery of everything a deployment needs: state, history, model, configuration, releases' metadata.

The functions other domains call (the maintenance checklists, the deploy preflight, the supervisor's child):

- ``create_backup(settings, kind) -> Manifest``: a complete backup directory under ``settings.backup_path``;
- ``verify_backups(settings) -> VerifyReport``: every backup and the continuous replica checked (``.ok``,
  ``.as_dict()``);
- ``dr_test(settings) -> DrReport``: the disaster rehearsal in a scratch directory, RTO and RPO measured
  (``.ok``, ``.as_dict()``); ``backup_test`` and ``recover_test`` return the same report type;
- ``run_continuous(settings) -> int``: the foreground litestream runner behind ``oppscope backup continuous``.
"""

from oppscope.backup.catalog import PruneReport, prune
from oppscope.backup.continuous import run_continuous
from oppscope.backup.create import create_backup
from oppscope.backup.drill import DrillReport, DrReport, backup_test, dr_test, recover_test
from oppscope.backup.manifest import BackupError, Kind, Manifest
from oppscope.backup.restore import RestoreReport, Scope, recover, restore_backup, restore_to_time
from oppscope.backup.verify import VerifyReport, verify_backups

__all__ = [
    "BackupError",
    "DrReport",
    "DrillReport",
    "Kind",
    "Manifest",
    "PruneReport",
    "RestoreReport",
    "Scope",
    "VerifyReport",
    "backup_test",
    "create_backup",
    "dr_test",
    "prune",
    "recover",
    "recover_test",
    "restore_backup",
    "restore_to_time",
    "run_continuous",
    "verify_backups",
]

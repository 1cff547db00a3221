"""The seed's maintenance procedures: daily, weekly and monthly checklists whose items really do the job (verify,
prune, vacuum, audit, rehearse) and report pass, warn, fail or skipped with the reason.

``run(name, settings, url=None, token=None) -> ChecklistReport`` (``.ok``, ``.as_dict()``) is what
``oppscope maintenance daily|weekly|monthly`` prints. Emergency maintenance is the flag in
``oppscope.ops.emergency``, below the wiring, because every web worker reads it.
"""

from oppscope.maintenance.checklists import run
from oppscope.maintenance.report import ChecklistReport, Status

__all__ = ["ChecklistReport", "Status", "run"]

"""``python -m oppscope.engines.fit_process``: fit the engine for the current history and save it, then exit.

Run by ``loading.fit_in_child`` with the server's settings as JSON on stdin, while the parent holds the fit
lock. The last line on stdout is ``{"model_id", "snapshot_id"}``, or ``{"error": {...}}`` with exit status 1.
"""

from __future__ import annotations

import json
import sys

from oppscope.config import Settings
from oppscope.engines.cache import open_model_cache
from oppscope.engines.loading import fit_and_save
from oppscope.history.store import HistoryError


def main() -> int:
    settings = Settings.model_validate_json(sys.stdin.read())
    try:
        engine = fit_and_save(settings, open_model_cache(settings))
    except HistoryError as exc:
        print(json.dumps({"error": {"code": exc.code, "message": exc.message, "details": exc.details}}))
        return 1
    print(json.dumps({"model_id": engine.model_id, "snapshot_id": engine.snapshot_id}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

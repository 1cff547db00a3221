"""What a worker watches besides counting: the alerts (``monitoring = "full"``) and its memory share.

The seed's table gives each environment a monitoring level. ``basic`` (development) is the metrics, the request
log and the per-minute time series that ``/ops`` and ``oppscope alerts check`` read; ``full`` (staging,
production) adds the alerts evaluated inside the service every minute: a firing or resolved alert is logged, and
a newly firing one is posted to ``alert_webhook_url``. One worker evaluates at a time (it holds a lock file under
the ops directory; when it exits another takes over), so a notice is sent once, not once per worker.

The profile's size is the service's memory budget (``resources``: 2, 4 or 8 GB); each worker watches its share
(the budget over ``worker_count``) and logs when its private memory crosses it. It is a watch, not a hard limit:
``RLIMIT_AS`` would count every memory-mapped model file in full and kill a worker that uses a fraction of it,
and resident memory counts mapped pages shared by every worker, so the watch counts private pages only.
"""

from __future__ import annotations

import fcntl
import os
import time
from datetime import UTC, datetime

import psutil
import structlog

from oppscope.config import Settings, secret_value
from oppscope.ops.checks import default_url
from oppscope.ops.diagnostics import alert_states
from oppscope.ops.notify import NotifyError, WebhookFormat, payload, send
from oppscope.ops.timeseries import TimeSeries

log = structlog.get_logger(__name__)

EVALUATE_EVERY_S = 60.0
LOCK_FILE = "alerts.lock"


class AlertWatch:
    """The seed's alerts, evaluated in the service: ``run`` when ``due``, by whichever worker holds the lock."""

    def __init__(self, settings: Settings, series: TimeSeries) -> None:
        self.settings = settings
        self.series = series
        self._lock: int | None = None
        self._firing: set[str] = set()
        self._next = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def holds_lock(self) -> bool:
        """Take the evaluator's lock if it is free; once taken it is kept until ``close``."""
        if self._lock is None:
            self.settings.ops_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.settings.ops_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._lock = fd
        return True

    def run(self, now: datetime | None = None) -> list[str]:
        """Evaluate every rule; returns the alerts that started firing (and were notified)."""
        self._next = time.monotonic() + EVALUATE_EVERY_S
        if not self.holds_lock():
            return []
        moment = now or datetime.now(UTC)
        states = alert_states(self.settings, self.series, moment)
        firing = {s.rule.name for s in states if s.firing}
        started = [s for s in states if s.firing and s.rule.name not in self._firing]
        for state in started:
            log.warning("alert firing", alert=state.rule.name, severity=state.rule.severity.value, value=state.value)
        for name in sorted(self._firing - firing):
            log.info("alert resolved", alert=name)
        self._firing = firing
        url = secret_value(self.settings.alert_webhook_url)
        if started and url:
            fmt: WebhookFormat = "slack" if self.settings.alert_webhook_format == "slack" else "alertmanager"
            body = payload(started, fmt, f"{default_url(self.settings)}/ops", moment)
            try:
                send(url, body, alerts=len(started))
            except NotifyError as exc:  # the alert is logged above; a webhook down must not stop the watch
                log.warning("alert notification failed", error=exc.message, attempts=exc.attempts)
        return [s.rule.name for s in started]

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # releases the lock for another worker
            self._lock = None


class MemoryWatch:
    """Logs once when this worker's private memory crosses its share of the profile's memory, and once when it
    is back under."""

    def __init__(self, settings: Settings, process: psutil.Process) -> None:
        self.limit_bytes = settings.resource_size.memory_mb * 2**20 // settings.worker_count
        self._process = process
        self.over = False

    def private_bytes(self) -> int:
        info = self._process.memory_info()
        return int(max(0, info.rss - getattr(info, "shared", 0)))  # file-backed pages (mapped models) are shared

    def check(self) -> bool:
        used = self.private_bytes()
        over = used > self.limit_bytes
        if over != self.over:
            mb = {"private_mb": used // 2**20, "share_mb": self.limit_bytes // 2**20}
            if over:
                log.warning("worker memory over its share of the profile's memory", **mb)
            else:
                log.info("worker memory back under its share of the profile's memory", **mb)
        self.over = over
        return over

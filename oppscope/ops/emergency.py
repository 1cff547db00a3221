"""Emergency maintenance: one flag file that every worker of every instance on the data directory obeys.

``oppscope maintenance emergency on`` writes ``<data_dir>/ops/emergency.json`` atomically (a temporary file
renamed over it), ``off`` removes it. Workers share no memory, so each reads the file itself, but only through
``EmergencyFlag.state()``, which looks at the file's ``stat`` at most once a second and parses it only when the
stat changed: the check costs nothing on the request path, and a switch takes effect everywhere within a
second. While it is on, the web layer answers the analysis endpoints 503 with ``Retry-After``; reads, saved
analyses and health keep working, so a maintenance window never looks like an outage to a load balancer.
"""

from __future__ import annotations

import getpass
import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from oppscope.config import Settings
from oppscope.durable import write_atomically
from oppscope.errors import ErrorKind, OppscopeError

EMERGENCY_FILE: Final = "emergency.json"
MAINTENANCE_CODE: Final = "maintenance"
DEFAULT_RETRY_AFTER_S: Final = 300
MAX_RETRY_AFTER_S: Final = 86_400
MAX_REASON_CHARS: Final = 500
CHECK_EVERY_S: Final = 1.0


@dataclass(frozen=True)
class EmergencyState:
    reason: str
    retry_after_s: int
    since: str  # ISO 8601, UTC
    by: str  # user@host of whoever switched it on

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "retry_after_s": self.retry_after_s, "since": self.since, "by": self.by}


def emergency_path(settings: Settings) -> Path:
    return settings.ops_dir / EMERGENCY_FILE


def _validated(reason: str, retry_after_s: int) -> tuple[str, int]:
    reason = reason.strip()
    if not reason:
        raise OppscopeError("invalid_input", "the reason must not be empty", kind=ErrorKind.invalid)
    if len(reason) > MAX_REASON_CHARS or any(ord(c) < 32 for c in reason):
        raise OppscopeError(
            "invalid_input",
            f"the reason is one line of at most {MAX_REASON_CHARS} characters",
            kind=ErrorKind.invalid,
        )
    if not 1 <= retry_after_s <= MAX_RETRY_AFTER_S:
        raise OppscopeError("invalid_input", f"retry-after is 1 to {MAX_RETRY_AFTER_S} seconds", kind=ErrorKind.invalid)
    return reason, retry_after_s


def switch_on(settings: Settings, reason: str, retry_after_s: int = DEFAULT_RETRY_AFTER_S) -> EmergencyState:
    """Write the flag atomically: a worker reads either the old file or the whole new one, never half of it."""
    reason, retry_after_s = _validated(reason, retry_after_s)
    state = EmergencyState(
        reason=reason,
        retry_after_s=retry_after_s,
        since=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        by=f"{getpass.getuser()}@{socket.gethostname()}",
    )
    path = emergency_path(settings)
    write_atomically(path, json.dumps(state.as_dict()).encode())
    return state


def switch_off(settings: Settings) -> bool:
    """Remove the flag; False when it was not on."""
    try:
        emergency_path(settings).unlink()
    except FileNotFoundError:
        return False
    return True


def read_state(path: Path) -> EmergencyState | None:
    """The flag as written; a file that cannot be read as one still means on (fail closed), with a default."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        return EmergencyState(
            reason=str(data["reason"]),
            retry_after_s=int(data["retry_after_s"]),
            since=str(data["since"]),
            by=str(data["by"]),
        )
    except (ValueError, KeyError, TypeError):
        return EmergencyState("emergency maintenance (unreadable flag file)", DEFAULT_RETRY_AFTER_S, "", "")


class EmergencyFlag:
    """What a worker asks on every analysis request: a cached answer, re-checked by ``stat`` once a second."""

    def __init__(self, path: Path, check_every_s: float = CHECK_EVERY_S) -> None:
        self.path = path
        self._every = check_every_s
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._stamp: tuple[int, int, int] | None = None
        self._state: EmergencyState | None = None

    def state(self) -> EmergencyState | None:
        now = time.monotonic()
        if now - self._checked < self._every:
            return self._state
        with self._lock:
            if now - self._checked >= self._every:
                self._refresh()
                self._checked = now
            return self._state

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._state = None, None
            return
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._state, self._stamp = read_state(self.path), stamp

    def refuse_if_on(self) -> None:
        """Raise the structured 503 the analysis endpoints answer while the flag is on."""
        state = self.state()
        if state is not None:
            raise OppscopeError(
                MAINTENANCE_CODE,
                f"analyses are paused for emergency maintenance: {state.reason}",
                {"reason": state.reason, "since": state.since, "retry_after_seconds": state.retry_after_s},
                kind=ErrorKind.unavailable,
                retry_after=state.retry_after_s,
            )

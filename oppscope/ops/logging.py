"""One logging set-up for the CLI and every server worker: structlog through the standard library, as JSON.

Every record (ours, uvicorn's, any library's) goes through the same formatter, so the file holds one JSON object
per line with ``timestamp`` (UTC, ISO 8601 with Z), ``level``, ``event``, ``logger``, ``pid`` and whatever was
bound (a request's ``request_id``). Several processes append to one file per UTC day,
``oppscope.log.YYYY-MM-DD``, each switching to the next day's file on its own: nobody renames a file another
process writes, which is what makes ``RotatingFileHandler`` unsafe with workers. ``oppscope.log`` is a symlink
to the current day's file, for ``tail -f``. Old days are pruned by the CLI (``serve`` at start and hourly), never
by a worker.

Secrets never reach a handler: values under keys that name tokens, cookies, passwords or customers' free text
are replaced, and bearer or oppscope tokens inside any string are masked.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, MutableMapping
from datetime import UTC, date, datetime, timedelta
from io import TextIOWrapper
from pathlib import Path
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from oppscope.config import Settings

LOG_NAME = "oppscope.log"
REDACTED = "[redacted]"
_DAY_FILE = re.compile(rf"^{re.escape(LOG_NAME)}\.(\d{{4}}-\d{{2}}-\d{{2}})$")
_MARK = "_oppscope_handler"

# Keys whose values are never written, compared without case, "-" or "_". Customers' free text is here too: a
# description can carry anything a seller pasted.
_SECRET_KEYS = frozenset(
    {
        "authorization",
        "cookie",
        "setcookie",
        "token",
        "accesstoken",
        "refreshtoken",
        "password",
        "passwd",
        "secret",
        "apikey",
        "xapikey",
        "csrf",
        "csrftoken",
        "session",
        "customername",
        "opportunityname",
        "oppname",
        "description",
        "oppdescription",
        "businessdescription",
    }
)
_SECRET_TEXT = re.compile(
    r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"  # an Authorization header value
    r"|\bops_[0-9a-f]{6,}_[A-Za-z0-9_-]{8,}"  # an oppscope API token
    r"|\b(oppscope_session|oppscope_csrf)=[^;\s]+"  # a cookie as it appears in a header
)


def _mask_text(text: str) -> str:
    return _SECRET_TEXT.sub(lambda m: f"{m.group(1) or m.group(2) or 'token'} {REDACTED}".strip(), text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_key(k) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("-", "").replace("_", "") in _SECRET_KEYS


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The last step before rendering: nothing secret leaves the process, whoever logged it."""
    return {k: REDACTED if _is_secret_key(k) else _scrub(v) for k, v in event_dict.items()}


def _add_pid(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict["pid"] = os.getpid()
    return event_dict


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """uvicorn adds a terminal-coloured copy of its message as an ``extra``; the plain one is enough."""
    event_dict.pop("color_message", None)
    return event_dict


_TIMESTAMP = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    _TIMESTAMP,
    _add_pid,
]


def _utc_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).date().isoformat()


class DailyFileHandler(logging.handlers.WatchedFileHandler):
    """Appends to ``<dir>/oppscope.log.<UTC day of the record>``, safe with several processes.

    Each process opens the day's file for appending and moves to the next day's file by itself, so no file is
    ever renamed under a writer; being a WatchedFileHandler it also reopens a file that was deleted or moved
    (by pruning or an operator's logrotate). Nothing is created until the first record.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._day = _utc_day(time.time())
        super().__init__(directory / f"{LOG_NAME}.{self._day}", encoding="utf-8", delay=True)

    def _open(self) -> TextIOWrapper:
        self.directory.mkdir(parents=True, exist_ok=True)
        stream = super()._open()
        _point_current(self.directory, self._day)
        return stream

    def emit(self, record: logging.LogRecord) -> None:
        day = _utc_day(record.created)
        if day != self._day:  # called under the handler's lock
            self._day = day
            self.baseFilename = str((self.directory / f"{LOG_NAME}.{day}").absolute())
            if self.stream is not None:
                self.stream.close()
                self.stream = None  # reopened by emit, as with delay=True
        super().emit(record)


def _point_current(directory: Path, day: str) -> None:
    """``oppscope.log`` -> today's file; replaced atomically, so racing processes all leave the same link."""
    link = directory / LOG_NAME
    if link.exists() and not link.is_symlink():
        return  # an operator's own file: leave it alone
    tmp = directory / f".{LOG_NAME}.{os.getpid()}.{threading.get_ident()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(f"{LOG_NAME}.{day}")
        tmp.replace(link)
    except OSError:
        tmp.unlink(missing_ok=True)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time of each record: a CLI run inside a test runner (or any
    caller that swaps the stream per command) gets its records where it reads them."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        """Always the current ``sys.stderr``."""


def configure_logging(
    settings: Settings, *, stream: Literal["stdout", "stderr"] = "stdout", console: bool = False
) -> None:
    """Route structlog and the standard library (uvicorn included) to ``stream`` and the day's log file.

    Safe to call again (a worker after the CLI, a test after another): only the handlers installed here are
    replaced. ``console`` renders ``stream`` for people (the CLI's stderr); the file is always JSON.
    """
    level = logging.getLevelNamesMapping()[settings.log_level.upper()]
    json_formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_color_message,
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(default=str),
        ],
    )
    stream_formatter = json_formatter
    if console:
        stream_formatter = structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _drop_color_message,
                redact,
                structlog.dev.ConsoleRenderer(colors=False),
            ],
        )
    # The server's stdout is the one it has when it configures (a server thread in a test keeps it while commands
    # swap theirs); the CLI's stderr is looked up per record.
    to_stream = _StderrHandler() if stream == "stderr" else logging.StreamHandler(sys.stdout)
    to_stream.setFormatter(stream_formatter)
    to_file = DailyFileHandler(settings.log_path)
    to_file.setFormatter(json_formatter)

    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    for handler in (to_stream, to_file):
        setattr(handler, _MARK, True)
        root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers print plain text; through the root logger its records become JSON like ours.
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the request log below replaces it (without queries)
    for name in ("httpx", "httpcore"):
        # they log every outgoing request's URL at info, and a webhook's URL is a secret (``SECRET_FIELDS``)
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # Alembic tells at info of every plugin it sets up and every migration context it opens, that is on every
    # command that opens the state database: noise. What a migration applied is in schema_revisions and in
    # `db upgrade`'s answer.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    # numba logs its compiler's passes at debug: tens of thousands of lines the first time a process compiles the
    # similarity scan, which drowned the development profile's (debug) output.
    logging.getLogger("numba").setLevel(max(level, logging.WARNING))
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )


def log_files(settings: Settings) -> list[tuple[date, Path]]:
    """The day files, oldest first."""
    try:
        entries = list(settings.log_path.iterdir())
    except FileNotFoundError:
        return []
    found = []
    for path in entries:
        match = _DAY_FILE.match(path.name)
        if match and path.is_file():
            found.append((date.fromisoformat(match.group(1)), path))
    return sorted(found)


def iter_log_records(settings: Settings, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every record of every day file, oldest first; lines that are not JSON objects are skipped. With
    ``since`` (timezone-aware; naive means UTC) only records at or after it."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    for day, path in log_files(settings):
        if since is not None and day < since.astimezone(UTC).date():
            continue
        try:
            handle = path.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue  # pruned meanwhile
        with handle:
            for line in handle:
                record = _parse(line)
                if record is None:
                    continue
                if since is not None:
                    stamp = _timestamp(record)
                    if stamp is None or stamp < since:
                        continue
                yield record


def _parse(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _timestamp(record: MutableMapping[str, Any]) -> datetime | None:
    value = record.get("timestamp")
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def prune_logs(settings: Settings, today: date | None = None) -> list[Path]:
    """Delete day files beyond the retention (``log_retention_days`` days kept, today included)."""
    oldest_kept = (today or datetime.now(UTC).date()) - timedelta(days=settings.log_retention_days - 1)
    removed = []
    for day, path in log_files(settings):
        if day < oldest_kept:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def start_log_pruning(settings: Settings, interval_s: float = 3600.0) -> threading.Thread:
    """Prune now and then every ``interval_s`` in a daemon thread of the calling (CLI) process."""

    def run() -> None:
        while True:
            try:
                removed = prune_logs(settings)
            except OSError as exc:
                structlog.get_logger(__name__).warning("pruning old log files failed", error=str(exc))
            else:
                if removed:
                    structlog.get_logger(__name__).info("pruned old log files", files=len(removed))
            time.sleep(interval_s)

    thread = threading.Thread(target=run, name="oppscope-log-pruning", daemon=True)
    thread.start()
    return thread

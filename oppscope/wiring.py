"""Every backend oppscope talks to, built in one place from the settings.

``build_services(settings)`` is how the web app, the CLI and the tests get the history, the analysis store, the
token store, the model cache and the engine; each is picked by a setting (``history_backend``,
``analysis_store_backend``, ``token_backend``, ``model_cache_backend``), so adding a backend (Athena, DynamoDB)
is one entry in a table and no caller changes.
Building opens nothing but the state database's connection pool: the history is opened per use, the engine is
loaded by ``engines.load()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine

from oppscope.access.interfaces import TokenStore
from oppscope.access.sql_tokens import SqlTokenStore
from oppscope.analyses.cache import AnalysisCache
from oppscope.analyses.service import AnalysisService
from oppscope.analyses.sql_store import SqlAnalysisStore
from oppscope.analyses.store import AnalysisStore
from oppscope.config import Settings
from oppscope.engines.cache import open_model_cache
from oppscope.engines.holder import EngineHolder
from oppscope.engines.interfaces import ModelCache
from oppscope.history.factory import open_history_reader, open_history_store
from oppscope.history.interfaces import HistoryReader, HistoryStore
from oppscope.ops.emergency import EmergencyFlag, emergency_path
from oppscope.ops.health import Check, disk_check, engine_check, history_check, state_check
from oppscope.ops.metrics import Telemetry
from oppscope.state.db import open_state
from oppscope.state.migrate import require_current


class HistoryAccess:
    """Opens the configured history: ``reader()`` for queries (shared with other readers), ``writer()`` for
    imports (exclusive). Each call opens the store for one ``with`` block; nothing is held between uses, so an
    import in another process is never blocked by an idle server."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def reader(self) -> HistoryReader:
        return open_history_reader(self._settings)

    def writer(self) -> HistoryStore:
        return open_history_store(self._settings)


_HISTORY_BACKENDS: dict[str, Callable[[Settings], HistoryAccess]] = {"duckdb": HistoryAccess}
_ANALYSIS_STORES: dict[str, Callable[[Engine], AnalysisStore]] = {"sql": SqlAnalysisStore}
_TOKEN_STORES: dict[str, Callable[[Engine], TokenStore]] = {"sql": SqlTokenStore}

# The names each setting accepts, for the contract tests that run every backend.
TOKEN_BACKENDS = tuple(_TOKEN_STORES)
HISTORY_BACKENDS = tuple(_HISTORY_BACKENDS)


@dataclass
class Services:
    """The process' backends. ``metrics`` is the telemetry (Prometheus and the time series; None with
    ``metrics_enabled`` off), ``events`` a slot for the event sink (None until it exists); ``checks`` are what
    readiness probes, one per dependency; ``emergency`` the maintenance flag every worker obeys."""

    settings: Settings
    history: HistoryAccess
    state: Engine
    analysis_store: AnalysisStore
    tokens: TokenStore
    model_cache: ModelCache
    engines: EngineHolder
    analyses: AnalysisService
    emergency: EmergencyFlag
    metrics: Telemetry | None = None
    events: object | None = None
    checks: list[Check] = field(default_factory=list)

    def require_migrated(self) -> None:
        """Refuse to go on with a state database at another schema revision than this code's."""
        require_current(self.state)

    def close(self) -> None:
        self.engines.close()  # stops the engine's switch timer, if it was loaded
        self.state.dispose()


def build_services(settings: Settings) -> Services:
    state = open_state(settings)
    history = _HISTORY_BACKENDS[settings.history_backend](settings)
    analysis_store = _ANALYSIS_STORES[settings.analysis_store_backend](state)
    model_cache = open_model_cache(settings)
    engines = EngineHolder(settings, history.reader, model_cache)
    telemetry = Telemetry(settings) if settings.metrics_enabled else None
    services = Services(
        settings=settings,
        history=history,
        state=state,
        analysis_store=analysis_store,
        tokens=_TOKEN_STORES[settings.token_backend](state),
        model_cache=model_cache,
        engines=engines,
        analyses=AnalysisService(
            analysis_store,
            engines,
            AnalysisCache.from_settings(settings),
            telemetry,
            mask_free_text=settings.mask_free_text,
        ),
        emergency=EmergencyFlag(emergency_path(settings)),
        metrics=telemetry,
    )
    services.checks = [
        history_check(history.reader),
        engine_check(engines),
        state_check(state, analysis_store.ping),
        disk_check(settings.data_dir, settings.disk_free_min_percent),
    ]
    return services


@contextmanager
def open_services(settings: Settings) -> Iterator[Services]:
    """``build_services`` for a command's or a server's lifetime, the state connections closed afterwards."""
    services = build_services(settings)
    try:
        yield services
    finally:
        services.close()

"""The one error base: every kind has exactly one HTTP status and one exit code, and the domain's errors keep the
codes and statuses clients already rely on."""

from __future__ import annotations

import pytest

from oppscope.access.interfaces import TokenError
from oppscope.analyses.service import AnalysisNotFoundError
from oppscope.analyses.store import IdempotencyConflictError
from oppscope.cli.output import EXIT_BAD_INPUT, EXIT_CODES, EXIT_FAILURE, CliError, exit_code
from oppscope.errors import ErrorKind, OppscopeError
from oppscope.history.store import HistoryError
from oppscope.state.migrate import StateNotMigratedError
from oppscope.web.errors import HTTP_STATUS, ApiError
from oppscope.web.pages.security import NotSignedInError, PageError


def test_every_kind_has_one_status_and_one_exit_code() -> None:
    assert set(HTTP_STATUS) == set(ErrorKind) == set(EXIT_CODES)
    assert len(set(HTTP_STATUS.values())) == len(HTTP_STATUS), "a status names one kind"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (HistoryError("history_missing", "no history"), 503, EXIT_FAILURE),
        (HistoryError("file_not_found", "no such file"), 422, EXIT_BAD_INPUT),
        (AnalysisNotFoundError("x"), 404, EXIT_BAD_INPUT),
        (IdempotencyConflictError("k", "a"), 409, EXIT_BAD_INPUT),
        (StateNotMigratedError(None, "0001"), 503, EXIT_FAILURE),
        (TokenError("invalid_token", "no"), 401, EXIT_BAD_INPUT),
        (CliError("invalid_input", "bad flag"), 422, EXIT_BAD_INPUT),
        (ApiError(429, "rate_limited", "slow down"), 429, EXIT_FAILURE),
        (PageError(403, "Refused", "no"), 403, EXIT_BAD_INPUT),
        (NotSignedInError(), 401, EXIT_BAD_INPUT),
    ],
)
def test_each_error_class_is_an_oppscope_error_with_its_kind(error: OppscopeError, status: int, code: int) -> None:
    assert isinstance(error, OppscopeError)
    assert HTTP_STATUS[error.kind] == status
    assert exit_code(error) == code
    assert set(error.body()["error"]) == {"code", "message", "details"}


def test_unavailable_history_asks_to_retry_and_an_api_error_adds_the_challenge() -> None:
    assert HistoryError("history_locked", "busy").retry_after == 30
    assert ApiError(401, "unauthorized", "token needed").headers["WWW-Authenticate"].startswith("Bearer")

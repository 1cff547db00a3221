"""Maintenance fixtures: the ops tests' real ``oppscope serve --workers 2`` and the web tests' data directory."""

from __future__ import annotations

from tests.ops import conftest as ops

prepared_data_dir = ops.prepared_data_dir
web_settings = ops.web_settings
served = ops.served

"""The ``oppscope check`` suite (design section 5): connectivity, endpoints, permissions, infrastructure, e2e
and performance, each a list of named results that passes or fails as a whole."""

from __future__ import annotations

# The backends the service reports on (``oppscope_backend_up{backend}``), in the order checks probe them.
BACKENDS = ("history", "state_database", "analysis_engine")

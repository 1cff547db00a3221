"""What a deployment notice reports; light, so the CLI can offer the choices without loading the senders."""

from __future__ import annotations

from enum import StrEnum


class Event(StrEnum):
    deployed = "deployed"
    rolled_back = "rolled_back"
    failed = "failed"
    started = "started"

"""The original system's endpoint (placeholder until the compatibility work lands)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

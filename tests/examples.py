"""Inputs shared by the interface tests (CLI, web): one realistic opportunity in the documented JSON form."""

from __future__ import annotations

from typing import Any

OPPORTUNITY: dict[str, Any] = {
    "customer_name": "Acme Manufacturing",
    "region": "Germany",
    "close_date": "2025-03-31",
    "opportunity_name": "SAP migration",
    "description": "Lift and shift of the SAP landscape with a later move to managed databases.",
    "industry": "Manufacturing",
}

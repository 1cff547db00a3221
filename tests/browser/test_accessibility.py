"""axe-core (bundled by axe-playwright-python) on every page, light and dark, in real Chromium: no serious or
critical WCAG 2 A/AA violation."""

from __future__ import annotations

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.conftest import OpenPage
from tests.examples import OPPORTUNITY

WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture(scope="module")
def analysis_id(module_server: str) -> str:
    with httpx.Client(base_url=module_server, timeout=120) as http:
        response = http.post("/api/v1/analyses", json=OPPORTUNITY)
    assert response.status_code == 201
    analysis: str = response.json()["id"]
    return analysis


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_pages_have_no_serious_accessibility_violations(open_page: OpenPage, analysis_id: str, dark: bool) -> None:
    watched = open_page(dark=dark)
    found = {}
    # Our pages; /docs is Swagger UI's own markup (axe finds contrast faults in its badges, not ours to restyle).
    for path in ("/", f"/analyses/{analysis_id}", "/analyses", "/login"):
        watched.page.goto(path)
        results = Axe().run(watched.page, options=WCAG)
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v["impact"] in {"serious", "critical"}
        ]
        if serious:
            found[path] = serious
    assert not found, found

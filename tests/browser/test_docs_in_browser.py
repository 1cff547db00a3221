"""The API reference renders offline: Swagger UI from the installed package, under the app's CSP."""

from __future__ import annotations

from tests.browser.conftest import OpenPage


def test_api_docs_render_every_operation_without_network(open_page: OpenPage) -> None:
    watched = open_page()
    watched.page.goto("/docs")
    watched.page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = watched.page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/api/v1/analyses", "/api/v1/history/vocabulary"} <= {p.replace("\u200b", "") for p in paths}
    watched.screenshot("docs")

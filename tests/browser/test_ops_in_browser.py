"""The /ops dashboard in real Chromium: its figures are the data endpoint's, every chart is drawn with the
vendored Chart.js (no console error, so no CSP violation), the windows switch, it reads in both themes and on a
phone, axe finds no serious violation, and where the profile needs tokens only an ops token opens it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from oppscope.config import Settings
from oppscope.ops.timeseries import STAGES, bucket_index, open_timeseries, quantile
from oppscope.web.app import create_app
from tests.browser.conftest import PHONE, OpenPage
from tests.browser.test_accessibility import WCAG
from tests.browser.test_pages_in_browser import painted_share
from tests.ops.test_diagnostics_cli import request_record, write_log
from tests.web.conftest import WebSettings, create_token, serving


def known_traffic(settings: Settings) -> None:
    """80 good answers, 12 invalid inputs and 8 failures, with stage times and cache look-ups."""
    series = open_timeseries(settings)
    now = datetime.now(UTC)
    records = []
    for index in range(100):
        status, code = (201, None) if index < 80 else (422, "invalid_input") if index < 92 else (503, "unavailable")
        series.record_request("POST", "/api/v1/analyses", status, 0.08 if status == 201 else 0.003)
        records.append(request_record(now, status, error_code=code, request_id=f"r{index}"))
    for stage in STAGES:
        series.record_stage(stage, 0.02)
    series.record_cache(True)
    series.record_cache(False)
    series.record_resources()
    series.flush()
    write_log(settings, records)


def wait_for_charts(page: Page) -> None:
    page.wait_for_selector("[data-charts-drawn='7']")


def test_the_dashboard_shows_the_datas_figures_and_draws_every_chart(
    open_page: OpenPage, web_settings: WebSettings
) -> None:
    settings = web_settings()
    known_traffic(settings)
    with serving(create_app(settings)) as url:
        watched = open_page(base_url=url)
        page = watched.page
        page.goto("/ops?window=15m")
        wait_for_charts(page)
        watched.screenshot("ops")
        data = page.request.get("/ops/data?window=15m").json()
        w = data["window"]
        # the data counts the browser's own requests since the page (the page, its assets, this fetch)
        assert (w["errors_4xx"], w["errors_5xx"]) == (12, 8) and w["requests"] > 100
        expect(page.locator("[data-figure=requests] .metric-value")).to_have_text("100")
        expect(page.locator("[data-figure=error_rate] .metric-value")).to_have_text("8.00%")
        expect(page.locator("[data-figure=availability] .metric-value")).to_have_text("92.00%")
        p95 = quantile(0.95, {bucket_index(0.08): 80, bucket_index(0.003): 20})  # the known traffic's
        expect(page.locator("[data-figure=latency] .metric-value")).to_have_text(f"{p95:.3f} s")
        expect(page.locator("[data-figure=cache] .metric-value")).to_have_text("50.00%")
        expect(page.locator("[data-figure=backup] .metric-value")).to_have_text("none yet")
        expect(page.locator("[data-error-code=invalid_input] [data-count]")).to_have_text("12")
        expect(page.locator("[data-error-code=unavailable] [data-count]")).to_have_text("8")
        firing = {a["name"] for a in data["alerts"] if a["state"] == "firing"}
        assert {"OppscopeErrorRateCritical", "OppscopeAvailabilityLow"} <= firing
        for name in firing:
            expect(page.locator(f"tr[data-alert={name}]")).to_have_attribute("data-state", "firing")
        expect(page.locator("[data-alerts-firing]")).to_have_text(f"{len(firing)} firing")
        for key in ("requests", "latency", "errors", "availability", "cache", "resources", "stages"):
            assert painted_share(page, f"chart-{key}") > 0.005, f"chart-{key} is blank"
        chart_points: int = page.evaluate("Chart.getChart('chart-requests').data.labels.length")
        assert chart_points == 15

        page.get_by_role("link", name="24h").click()
        page.wait_for_url(re.compile(r"/ops\?window=24h$"))
        wait_for_charts(page)
        expect(page.get_by_role("link", name="24h")).to_have_attribute("aria-current", "page")
        assert page.evaluate("Chart.getChart('chart-requests').data.labels.length") == 1440
        expect(page.locator("[data-error-code=invalid_input] [data-count]")).to_have_text("12")


def test_the_dashboard_in_the_dark_theme_on_a_phone_has_no_serious_accessibility_violation(
    open_page: OpenPage, web_settings: WebSettings
) -> None:
    settings = web_settings()
    known_traffic(settings)
    with serving(create_app(settings)) as url:
        for dark, viewport in ((False, None), (True, PHONE)):
            watched = open_page(base_url=url, dark=dark, **({"viewport": viewport} if viewport else {}))
            watched.page.goto("/ops")
            wait_for_charts(watched.page)
            watched.screenshot(f"ops-{'dark-phone' if dark else 'light'}")
            results = Axe().run(watched.page, options=WCAG)
            serious = [v["id"] for v in results.response["violations"] if v["impact"] in {"serious", "critical"}]
            assert not serious, serious
            overflow: int = watched.page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"the page is {overflow}px wider than the screen"


def test_only_an_ops_token_opens_the_dashboard_where_tokens_are_required(
    open_page: OpenPage, web_settings: WebSettings
) -> None:
    settings = web_settings(require_auth=True)
    reader, operator = create_token(settings, "read"), create_token(settings, "read", "ops")
    with serving(create_app(settings)) as url:
        watched = open_page(base_url=url)
        page = watched.page
        page.goto("/ops")
        page.wait_for_url(re.compile(r"/login\?next=%2Fops$"))
        page.fill("#token", reader)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/ops")
        expect(page.locator("h1")).to_have_text("Not allowed")
        expect(page.get_by_role("link", name="Operations")).to_have_count(0)
        # the 403 itself is the one expected problem (Chromium logs the refused document load)
        assert watched.problems == [
            "console error: Failed to load resource: the server responded with a status of 403 (Forbidden)"
        ]
        watched.problems.clear()

        watched = open_page(base_url=url)
        page = watched.page
        page.goto("/ops")
        page.fill("#token", operator)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/ops")
        page.wait_for_selector("[data-charts-drawn='6']")  # the fetch carries the session; no analysis, no stages
        expect(page.get_by_role("link", name="Operations")).to_have_attribute("aria-current", "page")

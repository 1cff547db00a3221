"""The pages in a real browser: typing and submitting the form, the result's figures and charts, history search,
downloads, client-side validation, the saved draft, the Sample button, the theme, a phone screen and login."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from oppscope.analysis.narrative import money, months
from oppscope.web.app import create_app
from oppscope.web.formatting import month_name
from tests.browser.conftest import PHONE, OpenPage
from tests.examples import OPPORTUNITY
from tests.web.conftest import WebSettings, create_token, serving

ANALYSIS_URL = re.compile(r"/analyses/[0-9a-f-]{36}$")


def saved(page: Page, analysis_id: str) -> dict[str, Any]:
    response = page.request.get(f"/api/v1/analyses/{analysis_id}")
    assert response.ok
    body: dict[str, Any] = response.json()
    return body


def create(page: Page, **changes: str) -> str:
    response = page.request.post("/api/v1/analyses", data={**OPPORTUNITY, **changes})
    assert response.status == 201, response.text()
    analysis_id: str = response.json()["id"]
    return analysis_id


def focused(page: Page) -> str:
    element_id: str = page.evaluate("document.activeElement.id")
    return element_id


def wait_for_charts(page: Page) -> None:
    page.wait_for_function("() => window.Chart && Chart.getChart('arr-chart') && Chart.getChart('timeline-chart')")


def painted_share(page: Page, canvas_id: str) -> float:
    """The share of the canvas' pixels that are not transparent: a blank canvas has none."""
    share: float = page.evaluate(
        """(id) => {
            const canvas = document.getElementById(id);
            const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
            return painted / (canvas.width * canvas.height);
        }""",
        canvas_id,
    )
    return share


def test_type_submit_read_search_and_export(open_page: OpenPage) -> None:
    watched = open_page()
    page = watched.page
    page.goto("/")
    watched.screenshot("form")
    customer = f"Keyboard Foods {uuid.uuid4().hex[:6]}"
    page.locator("#f-customer_name").focus()
    for field, text in (
        ("customer_name", customer),
        ("opportunity_name", "Cold chain analytics platform"),
        ("region", "eu-central-1"),
        ("close_date", "03312025"),
        ("description", "Move the warehouse systems and their databases to AWS, then add analytics."),
    ):
        assert focused(page) == f"f-{field}"
        page.keyboard.type(text)
        page.keyboard.press("Tab")
        if field == "close_date":
            page.keyboard.press("Tab")  # past the date input's own calendar button
    assert focused(page) == "f-industry"
    page.keyboard.type("Retail")
    assert page.input_value("#f-close_date") == "2025-03-31"
    page.keyboard.press("Control+Enter")
    page.wait_for_url(ANALYSIS_URL)

    analysis_id = page.url.rsplit("/", 1)[1]
    body = saved(page, analysis_id)
    assert body["input"]["customer_name"] == customer
    assert body["input"]["region"] == "eu-central-1"
    predictions = body["predictions"]
    expect(page.locator('[data-metric="arr"]')).to_have_text(money(predictions["arr"]["value"]))
    expect(page.locator('[data-metric="mrr"]')).to_have_text(money(predictions["mrr"]["value"]))
    expect(page.locator('[data-metric="upfront"]')).to_have_text(money(predictions["upfront_usd"]["value"]))
    expect(page.locator('[data-metric="launch-date"]')).to_have_text(month_name(predictions["launch_date"]))
    expect(page.locator('[data-metric="time-to-launch"]')).to_have_text(
        months(predictions["time_to_launch_months"]["value"])
    )
    expect(page.locator('[data-metric="confidence-score"]')).to_have_text(str(body["confidence"]["score"]))
    expect(page.locator('[data-metric="confidence"]')).to_have_text(body["confidence"]["level"])

    wait_for_charts(page)
    chart = page.evaluate(
        "() => { const c = Chart.getChart('arr-chart');"
        " return {bars: c.data.datasets[0].data, band: c.options.plugins.intervalBand}; }"
    )
    assert sorted(chart["bars"], reverse=True) == chart["bars"]
    assert len(chart["bars"]) == len(body["similar_projects"])
    assert (chart["band"]["low"], chart["band"]["high"]) == (predictions["arr"]["low"], predictions["arr"]["high"])
    assert painted_share(page, "arr-chart") > 0.03
    assert painted_share(page, "timeline-chart") > 0.03
    watched.screenshot("result-light")

    arr_cells = page.locator("#similar tbody td[data-label='ARR']")
    page.get_by_role("button", name="ARR", exact=True).click()
    values = [float(v) for v in arr_cells.evaluate_all("cells => cells.map(c => c.dataset.value)")]
    assert values == sorted(values)
    expect(page.locator("#similar th[aria-sort='ascending']")).to_have_text("ARR")
    page.get_by_role("button", name="ARR", exact=True).click()
    values = [float(v) for v in arr_cells.evaluate_all("cells => cells.map(c => c.dataset.value)")]
    assert values == sorted(values, reverse=True)

    with page.expect_download() as download_info:
        page.click('[data-export="json"]')
    download = download_info.value
    assert download.suggested_filename == f"oppscope-{analysis_id}.json"
    assert json.loads(Path(download.path()).read_text())["id"] == analysis_id
    with page.expect_download() as download_info:
        page.click('[data-export="md"]')
    assert analysis_id in Path(download_info.value.path()).read_text()

    page.get_by_role("link", name="History").click()
    page.fill("#q", customer.split()[-1])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/analyses\?q="))
    expect(page.locator(".history-table tbody tr")).to_have_count(1)
    expect(page.locator(".history-table tbody")).to_contain_text(money(predictions["arr"]["value"]))
    watched.screenshot("history")
    page.click(f'a[href="/analyses/{analysis_id}"]')
    page.wait_for_url(ANALYSIS_URL)
    assert page.url.endswith(analysis_id)


def test_client_side_validation_shows_messages_and_blocks_submit(open_page: OpenPage) -> None:
    page = open_page().page
    page.goto("/")
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.click("[data-submit]")
    expect(page.locator("#f-customer_name-error")).to_have_text("This field is required.")
    expect(page.locator("#f-customer_name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-customer_name")).to_be_focused()
    expect(page.locator("#f-close_date-error")).to_have_text("This field is required.")
    expect(page.locator("[data-status]")).to_have_text("Check the highlighted fields.")
    page.keyboard.type("   ")
    expect(page.locator("#f-customer_name-error")).to_have_text("This field is required.")
    page.keyboard.type("Acme")
    expect(page.locator("#f-customer_name-error")).to_have_text("")
    page.fill("#f-close_date", "1985-06-01")
    expect(page.locator("#f-close_date-error")).to_have_text("Pick a date from 1990-01-01 to 2100-12-31.")
    page.keyboard.press("Control+Enter")
    page.wait_for_timeout(300)
    assert posts == []
    assert page.url.endswith("/")


def test_the_draft_survives_a_reload_until_it_is_cleared(open_page: OpenPage) -> None:
    page = open_page().page
    page.goto("/")
    expect(page.locator("[data-draft-note]")).to_be_hidden()
    page.fill("#f-customer_name", "Draft Dynamics")
    page.fill("#f-description", "Two lines\nof scope")
    page.wait_for_function("() => (localStorage.getItem('oppscope:draft') || '').includes('of scope')")
    page.reload()
    expect(page.locator("#f-customer_name")).to_have_value("Draft Dynamics")
    expect(page.locator("#f-description")).to_have_value("Two lines\nof scope")
    expect(page.locator("[data-draft-note]")).to_be_visible()
    page.click("[data-clear]")
    expect(page.locator("#f-customer_name")).to_have_value("")
    page.reload()
    expect(page.locator("#f-customer_name")).to_have_value("")


def test_sample_fills_the_form_and_a_submitted_draft_is_gone(open_page: OpenPage) -> None:
    page = open_page().page
    page.goto("/")
    page.click("[data-sample]")
    for name in ("customer_name", "opportunity_name", "region", "close_date", "description", "industry"):
        assert page.input_value(f"#f-{name}").strip(), name
    industries = page.locator("#list-industries option").evaluate_all("options => options.map(o => o.value)")
    assert page.input_value("#f-industry") in industries
    countries = page.locator("#list-countries option").evaluate_all("options => options.map(o => o.value)")
    assert page.input_value("#f-region") in countries
    page.wait_for_function("() => localStorage.getItem('oppscope:draft')")
    busy = page.evaluate(
        """() => {
            document.querySelector("[data-analyze-form]").requestSubmit();
            const button = document.querySelector("[data-submit]");
            return {disabled: button.disabled, busy: button.getAttribute("aria-busy"),
                    status: document.querySelector("[data-status]").textContent};
        }"""
    )
    assert busy == {"disabled": True, "busy": "true", "status": busy["status"]}
    assert busy["status"].startswith("Analysing")
    page.wait_for_url(ANALYSIS_URL)
    assert page.evaluate("localStorage.getItem('oppscope:draft')") is None
    page.goto("/")
    expect(page.locator("#f-customer_name")).to_have_value("")


def test_dark_theme_is_applied_to_the_charts_and_remembered(open_page: OpenPage) -> None:
    watched = open_page()
    page = watched.page
    analysis_id = create(page, customer_name="Nightowl Analytics")
    page.goto(f"/analyses/{analysis_id}")
    wait_for_charts(page)
    light = page.evaluate("Chart.getChart('arr-chart').data.datasets[0].backgroundColor")
    toggle = page.locator("[data-theme-toggle]")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    wait_for_charts(page)
    assert page.evaluate("Chart.getChart('arr-chart').data.datasets[0].backgroundColor") != light
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(244, 246, 249)"
    watched.screenshot("result-dark")
    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")


def test_a_phone_screen_never_scrolls_sideways(open_page: OpenPage) -> None:
    watched = open_page(viewport=PHONE)
    page = watched.page
    analysis_id = create(page, customer_name="Pocketsize Retail International Holdings")
    for path, name in (("/", "phone-form"), (f"/analyses/{analysis_id}", "phone"), ("/analyses", "phone-history")):
        page.goto(path)
        if name == "phone":
            wait_for_charts(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide"
        watched.screenshot(name)


def test_login_where_the_profile_requires_a_token(open_page: OpenPage, web_settings: WebSettings) -> None:
    settings = web_settings(require_auth=True)
    token = create_token(settings, "read", "write")
    with serving(create_app(settings)) as url:
        watched = open_page(base_url=url)
        page = watched.page
        page.goto("/analyses")
        page.wait_for_url(re.compile(r"/login\?next=%2Fanalyses$"))
        watched.screenshot("login")
        page.fill("#token", token)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/analyses")
        expect(page.locator(".session")).to_have_text("Signed in")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{url}/login")
        page.goto("/")
        page.wait_for_url(re.compile(r"/login\?next=%2F$"))

"""Real-browser fixtures: Debian's Chromium driven by Playwright against the real server fixtures.

Every page is watched: console errors (CSP violations are reported there), uncaught exceptions, failed
requests and any request that would leave 127.0.0.1 (it is blocked and recorded) fail the test at teardown.
Screenshots go to ``tests/artifacts/`` (git-ignored) on every run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, ViewportSize, sync_playwright

from tests.web import conftest as web

# the HTTP tests' fixtures: one prepared data directory, a server per module, settings over a copy of the data
prepared_data_dir = web.prepared_data_dir
module_server = web.module_server
web_settings = web.web_settings

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Chromium is not installed: the browser tests need Debian's `chromium` package on PATH")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page and everything that went wrong on it."""

    page: Page
    problems: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


OpenPage = Callable[..., Watched]


@pytest.fixture
def open_page(browser: Browser, module_server: str) -> Iterator[OpenPage]:
    """Open a watched page in a fresh browser context (its own storage) on ``base_url``."""
    opened: list[Watched] = []

    def make(base_url: str = module_server, viewport: ViewportSize = LAPTOP, dark: bool = False) -> Watched:
        context = browser.new_context(
            base_url=base_url,
            viewport=viewport,
            color_scheme="dark" if dark else "light",
            locale="en-US",
            accept_downloads=True,
        )
        watched = Watched(context.new_page())

        def route(route: Route) -> None:
            if urlsplit(route.request.url).hostname == "127.0.0.1":
                route.continue_()
            else:
                watched.problems.append(f"request left 127.0.0.1: {route.request.url}")
                route.abort()

        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                watched.problems.append(f"console error: {message.text}")

        def failed(request: Request) -> None:
            # ERR_ABORTED is the page's own doing: a navigation cancelling its pending loads, or a download
            if request.failure != "net::ERR_ABORTED":
                watched.problems.append(f"request failed: {request.url} {request.failure}")

        context.route("**/*", route)
        watched.page.on("console", console)
        watched.page.on("pageerror", lambda error: watched.problems.append(f"page error: {error}"))
        watched.page.on("requestfailed", failed)
        opened.append(watched)
        return watched

    yield make
    for watched in opened:
        watched.page.context.close()
    problems = [problem for watched in opened for problem in watched.problems]
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)
